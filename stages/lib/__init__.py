"""The library the stages call, one module per concern: data and sampling, prompts, methods and backends,
training, scoring and reporting, pipeline files and configuration."""
from stages.lib.offline import no_kernel_hub

no_kernel_hub()  # first, before any module imports bitsandbytes (through peft, trl or sentence-transformers)
