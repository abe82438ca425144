"""The model as the API describes it (`client.models.retrieve`), or as its registry entry declares it behind a
gateway that does not describe it, and the thinking settings it allows."""
from __future__ import annotations

import sys
from dataclasses import dataclass

from stages.lib.config import Capabilities
from stages.lib.errors import PipelineError

EFFORTS = ("low", "medium", "high", "xhigh", "max")  # output_config.effort, cheapest first
THINKING = ("disabled", "between_tools", "adaptive", "enabled")


class ModelRefused(PipelineError):
    """The API does not know the model, or it cannot do what the run asks: nothing was sent."""


@dataclass(frozen=True)
class Described:
    """What a stage needs to know of the model: the API's description, or the registry's declaration."""
    id: str
    display_name: str
    lifecycle: str  # active, deprecated, or "declared" (a gateway: the API was not asked)
    caps: Capabilities


def from_api(info) -> Capabilities:
    """The SDK's `ModelInfo.capabilities`, in the registry's terms."""
    caps = info.capabilities
    return Capabilities(
        thinking=[t for t in THINKING if getattr(caps.thinking.types, t).supported],
        effort=[e for e in EFFORTS if caps.effort.supported and getattr(caps.effort, e, None)
                and getattr(caps.effort, e).supported],
        structured_outputs=caps.structured_outputs.supported, batch=caps.batch.supported,
        max_input_tokens=info.max_input_tokens or 200_000, max_tokens=info.max_tokens or 64_000)


def _has_models_api(client) -> bool:
    import anthropic

    try:
        client.models.list(limit=1)
    except anthropic.NotFoundError:
        return False
    return True


def describe_model(client, model_id: str, key: str, declared: Capabilities | None) -> Described:
    """The API's own description of the model: refused, before anything is spent, if unknown or retired; a warning
    if deprecated. Behind a gateway whose Models API gives no capabilities, or that has no Models API, the
    registry's `capabilities` with one warning line, or a refusal saying what to declare."""
    import anthropic

    why = None
    try:
        info = client.models.retrieve(model_id)
    except anthropic.NotFoundError:
        if _has_models_api(client):
            raise ModelRefused(f"models.{key}.id {model_id!r}: the API knows no such model; nothing was sent") \
                from None
        info, why = None, "has no Models API"
    if info is not None and info.capabilities is None:
        why = "describes the model without capabilities"
    if why:
        if declared is None:
            raise ModelRefused(f"models.{key}.id {model_id!r}: the API (or a gateway in front of it) {why}; declare "
                               f"them as models.{key}.capabilities (thinking, effort, structured_outputs, batch, "
                               "max_input_tokens, max_tokens: docs/study.md, Behind a gateway); nothing was sent")
        print(f"warning: models.{key}.id {model_id!r}: the API (or a gateway in front of it) {why}; using the "
              f"capabilities declared in models.{key}.capabilities", file=sys.stderr)
        return Described(model_id, getattr(info, "display_name", None) or model_id, "declared", declared)
    if info.lifecycle == "retired":
        raise ModelRefused(f"models.{key}.id {model_id!r} ({info.display_name}) is retired; nothing was sent")
    if info.lifecycle == "deprecated":
        print(f"warning: models.{key}.id {model_id!r} ({info.display_name}) is deprecated"
              + (f" and retires at {info.retires_at:%Y-%m-%d}" if info.retires_at else ""), file=sys.stderr)
    return Described(model_id, info.display_name, info.lifecycle, from_api(info))


def thinking_settings(model: Described, thinking: str, effort: str, key: str) -> tuple[dict, str | None, bool]:
    """(the `thinking` object to send, the effort level to send or None, whether the model will think).
    `off` sends the first of `disabled` and `between_tools` that the model accepts; a model that accepts
    neither can only think, and gets adaptive thinking at the lowest effort it accepts."""
    types, efforts = model.caps.thinking, model.caps.effort
    if thinking == "off":
        for off in ("disabled", "between_tools"):
            if off in types:
                return {"type": off}, None, False
        if "adaptive" not in types:
            raise ModelRefused(f"models.{key}: {model.id} accepts neither disabled nor adaptive thinking")
        return {"type": "adaptive"}, (efforts[0] if efforts else None), True
    if "adaptive" not in types:
        raise ModelRefused(f"models.{key}: {model.id} does not accept adaptive thinking; set claude.thinking: off")
    if efforts and effort not in efforts:
        raise ModelRefused(f"claude.effort {effort!r}: {model.id} accepts {', '.join(efforts)}")
    return {"type": "adaptive"}, (effort if efforts else None), True
