"""Loading a trained LoRA adapter (and, for the head model, its head) onto its base model."""
from __future__ import annotations

import warnings
from pathlib import Path

# peft 0.21 (PeftModel.from_pretrained, get_peft_model) and TRL 1.16 read transformers' deprecated
# `model.is_gradient_checkpointing`; our own code uses `activation_checkpointing`. Silenced for that message only.
DEPRECATED_READ = "`is_gradient_checkpointing` is deprecated"


def load_adapter(model, adapter: str | Path):
    """`PeftModel.from_pretrained(model, adapter)` without peft's deprecation warning."""
    from peft import PeftModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", DEPRECATED_READ, FutureWarning)
        return PeftModel.from_pretrained(model, str(adapter))
