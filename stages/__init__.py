"""The pipeline's DVC entry points, one module per stage (`python -m stages.<name>`); the library is `stages.lib`."""
