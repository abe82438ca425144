"""The model a fine-tuning run trains: where it runs, the base as loaded for training and the LoRA on top.

`finetune.quantize_4bit`: QLoRA, the study's recipe (bitsandbytes 4-bit NF4 base, double quantisation, computing
in `finetune.compute_dtype[device]`), on a GPU or on the CPU (bitsandbytes has a CPU backend); otherwise LoRA on an
fp32 base (bf16 autocast on a GPU). `finetune.device` says where it runs, not whether it may be 4-bit."""
from __future__ import annotations

import torch

from stages.lib import cpu
from stages.lib.config import Recipe
from stages.lib.errors import PipelineError
from stages.lib.quantization import quantization_config


def device(cfg: Recipe) -> str:
    wanted = cfg.device
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise PipelineError("params.yaml: finetune.device is cuda but no CUDA device is available")
    return wanted


def compute_dtype(cfg: Recipe, dev: str) -> torch.dtype:
    if dev not in cfg.compute_dtype:
        raise PipelineError(f"params.yaml: finetune.compute_dtype has no entry for device {dev!r}")
    return getattr(torch, cfg.compute_dtype[dev])


def autocast(cfg: Recipe, dev: str) -> str | None:
    """The dtype training computes in under autocast, or None (fp32, or the 4-bit base's own compute dtype)."""
    if dev == "cuda" and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "bfloat16" if dev == "cpu" and cpu.cpu_autocast(cfg.cpu_autocast) and not cfg.quantize_4bit else None


def precision(cfg: Recipe) -> str:
    """The base model's precision as trained (and therefore as scored)."""
    return "nf4" if cfg.quantize_4bit else "float32"


def load_base(path: str, dev: str, cfg: Recipe, model_class=None, skip_modules: list[str] | None = None,
              **model_kwargs):
    """(model, tokenizer): `model_class` (default `AutoModelForCausalLM`) from `path`, 4-bit and prepared for
    k-bit training where `quantize_4bit` (`skip_modules` left unquantised), else fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_class = model_class or AutoModelForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(path)
    if cfg.quantize_4bit:
        from peft import prepare_model_for_kbit_training

        dtype = compute_dtype(cfg, dev)
        model = model_class.from_pretrained(path, quantization_config=quantization_config(dtype, skip_modules),
                                            dtype=dtype, device_map={"": dev}, **model_kwargs)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=dev == "cuda" and cfg.gradient_checkpointing)
    else:
        model = model_class.from_pretrained(path, dtype=torch.float32, **model_kwargs)
    return model, tokenizer


def lora_config(cfg: Recipe, num_layers: int, task_type: str = "CAUSAL_LM", **extra):
    from peft import LoraConfig

    top = cfg.top_layers
    # LoRA on the top layers only: backpropagation stops at the lowest adapted layer, so training costs
    # roughly forward + backward-through-the-top instead of forward + full backward.
    layers = list(range(num_layers - top, num_layers)) if top else None
    return LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.target_modules,
                      layers_to_transform=layers, task_type=task_type, **extra)
