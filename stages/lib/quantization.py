"""The study's QLoRA base, one definition for training and for scoring what was trained on it."""
from __future__ import annotations


def quantization_config(dtype, skip_modules: list[str] | None = None):
    """bitsandbytes 4-bit NF4 with double quantisation, computing in `dtype` (a torch dtype). `skip_modules` stay
    in `dtype` (a classification head, trained in full)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype,
                              **({"llm_int8_skip_modules": skip_modules} if skip_modules else {}))
