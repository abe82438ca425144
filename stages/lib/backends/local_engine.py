"""A local model (the prepared base model, optionally with an adapter) on the engine its registry entry names:
this project's transformers decoder (`local`), or vLLM on a GPU (`vllm`)."""
from __future__ import annotations

from stages.lib.config import Model
from stages.lib.paths import BASE_MODEL


def local_backend(name: str, entry: Model, batch_size: int, adapter: str | None = None,
                  quantization_config=None, info: dict | None = None):
    """`quantization_config`: the 4-bit base a QLoRA adapter was trained on, to score it on the same base; `info`:
    more for the prediction meta."""
    info = {"model": name, **({"adapter": adapter} if adapter else {}), **(info or {})}
    if entry.engine == "vllm":
        from stages.lib.backends.vllm import VLLMBackend

        return VLLMBackend.load(str(BASE_MODEL), adapter, entry.tensor_parallel, info)
    from stages.lib.backends.local import LocalLM, load, precision_info

    model, tokenizer = load(str(BASE_MODEL), adapter=adapter, quantization_config=quantization_config,
                            cpu_dtype=entry.cpu_dtype)
    return LocalLM(model, tokenizer, batch_size=batch_size, info=info | precision_info(model, adapter))
