"""The one error type stages raise for bad input or configuration."""


class PipelineError(Exception):
    """Bad input or configuration: printed as one line, exit status 2, nothing written."""
