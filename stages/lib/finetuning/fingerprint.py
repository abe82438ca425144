"""What a checkpoint must match to be resumed."""
from __future__ import annotations

import dataclasses
import hashlib
import json

from stages.lib.cpu import cpu_autocast
from stages.lib.files import content_hash


def fingerprint(cfg, train: list[dict], val: list[dict], base: str, seed: int, extra=None) -> str:
    """The recipe (either fine-tuning config dataclass), the seed, the data, anything else the run depends on
    (`extra`: the head's label layout) and every file of the base model (config, weights, tokenizer), so another
    seed or another quantisation of the same model starts afresh."""
    # `seeds` lists every seed a study trains; the one this run trains is `seed`.
    recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("checkpoint_dir", "seeds")}
    recipe["cpu_autocast"] = cpu_autocast(cfg.cpu_autocast)  # what `auto` is on this CPU: a shared cache differs
    parts = [recipe, seed, train, val] + ([type(cfg).__name__, extra] if extra is not None else [])
    h = hashlib.sha256(json.dumps(parts, sort_keys=True).encode())
    h.update(content_hash(base).encode())
    return h.hexdigest()[:16]
