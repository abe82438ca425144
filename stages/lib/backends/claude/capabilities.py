"""The model as the API describes it (`client.models.retrieve`), and the thinking settings it allows."""
from __future__ import annotations

import sys

from stages.lib.errors import PipelineError

EFFORTS = ("low", "medium", "high", "xhigh", "max")  # output_config.effort, cheapest first


class ModelRefused(PipelineError):
    """The API does not know the model, or it cannot do what the run asks: nothing was sent."""


def resolve_model(client, model_id: str, key: str):
    """The API's own description of the model (`ModelInfo`): refused, before anything is spent, if unknown or
    retired; a warning if deprecated."""
    import anthropic

    try:
        info = client.models.retrieve(model_id)
    except anthropic.NotFoundError:
        raise ModelRefused(f"models.{key}.id {model_id!r}: the API knows no such model (or a gateway in front of "
                           "it has no Models API); nothing was sent") from None
    if info.capabilities is None:  # a gateway's Models API (LiteLLM's proxy) answers without them
        raise ModelRefused(f"models.{key}.id {model_id!r}: the Models API (or a gateway in front of it) describes "
                           "the model without capabilities (thinking types, effort, structured outputs, batch), "
                           "which this stage needs to shape its requests; nothing was sent")
    if info.lifecycle == "retired":
        raise ModelRefused(f"models.{key}.id {model_id!r} ({info.display_name}) is retired; nothing was sent")
    if info.lifecycle == "deprecated":
        print(f"warning: models.{key}.id {model_id!r} ({info.display_name}) is deprecated"
              + (f" and retires at {info.retires_at:%Y-%m-%d}" if info.retires_at else ""), file=sys.stderr)
    return info


def thinking_settings(info, thinking: str, effort: str, key: str) -> tuple[dict, str | None, bool]:
    """(the `thinking` object to send, the effort level to send or None, whether the model will think).
    `off` sends the first of `disabled` and `between_tools` that the model accepts; a model that accepts
    neither can only think, and gets adaptive thinking at the lowest effort it accepts."""
    caps = info.capabilities
    types = caps.thinking.types
    efforts = [e for e in EFFORTS if caps.effort.supported and getattr(caps.effort, e, None)
               and getattr(caps.effort, e).supported]
    if thinking == "off":
        for off in ("disabled", "between_tools"):
            if getattr(types, off).supported:
                return {"type": off}, None, False
        if not types.adaptive.supported:
            raise ModelRefused(f"models.{key}: {info.id} accepts neither disabled nor adaptive thinking")
        return {"type": "adaptive"}, (efforts[0] if efforts else None), True
    if not types.adaptive.supported:
        raise ModelRefused(f"models.{key}: {info.id} does not accept adaptive thinking; set claude.thinking: off")
    if efforts and effort not in efforts:
        raise ModelRefused(f"claude.effort {effort!r}: {info.id} accepts {', '.join(efforts)}")
    return {"type": "adaptive"}, (effort if efforts else None), True
