"""The library the stages call, one module per concern: data and sampling, prompts, methods and backends,
training, scoring and reporting, pipeline files and configuration."""
