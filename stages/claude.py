"""Claude backend (Anthropic API) — see issue 6; not yet implemented."""
from stages.io import PipelineError


class ClaudeBackend:
    @classmethod
    def from_params(cls, params, name, stage):
        raise PipelineError(f"model {name!r}: the Claude backend is not implemented yet")
