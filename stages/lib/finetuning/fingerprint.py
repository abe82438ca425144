"""What a checkpoint must match to be resumed."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from stages.lib.files import content_hash


def fingerprint(cfg, train: list[dict], val: list[dict], base: str, seed: int) -> str:
    """The recipe (any fine-tuning config dataclass), the seed, the data and every file of the base model (config,
    weights, tokenizer), so another seed or another quantisation of the same model starts afresh."""
    recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "checkpoint_dir"}
    h = hashlib.sha256(json.dumps([recipe, seed, train, val], sort_keys=True).encode())
    h.update(content_hash(base).encode())
    return h.hexdigest()[:16]
