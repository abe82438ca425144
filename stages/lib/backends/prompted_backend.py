"""The backend the model registry names for the prompted model, `params.model`: the prepared local base model (on
its engine), or Claude. Apart from `local_engine` so that a stage scoring only a local model never depends on
the Claude code."""
from __future__ import annotations

from stages.lib.config import Params
from stages.lib.errors import PipelineError


def prompted_backend(params: Params, batch_size: int):
    name = params.model
    entry = params.model_entry(name)
    if entry.provider == "local":
        if name != params.base_model:
            raise PipelineError(f"params.yaml: model {name!r} is local; local prompting uses the prepared base model, "
                                f"so set base_model={name} as well (dvc exp run -S model={name} -S base_model={name})")
        from stages.lib.backends.local_engine import local_backend

        return local_backend(name, entry, batch_size)
    from stages.lib.backends.claude.backend import ClaudeBackend

    return ClaudeBackend.from_params(params, name)
