"""A recipe chosen on validation, as TF-IDF's C is (`recipe.search`), with a steps budget that grows with the data
(`recipe.min_steps`).

Every combination of the searched values trains on the same rows under the same seed; each ends with its
validation loss (the unweighted cross-entropy of the answer, so candidates with and without class weighting
compare), and the lowest is kept. Early stopping, where `eval_strategy` evaluates during training, works inside
each candidate as before. Only validation rows are ever scored here: the test split never reaches a recipe.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import shutil
import tempfile
from pathlib import Path

from stages.lib.errors import PipelineError


def sized(cfg, n_rows: int):
    """`cfg` with `epochs` raised to the whole number of passes over `n_rows` rows that reaches `min_steps`
    optimizer steps (per process): a fixed number of epochs gives 80 rows 10 steps and 500 rows 63."""
    per_epoch = math.ceil(n_rows / (cfg.batch_size * cfg.gradient_accumulation_steps)) if n_rows else 0
    if not cfg.min_steps or not per_epoch or per_epoch * cfg.epochs >= cfg.min_steps:
        return cfg
    return dataclasses.replace(cfg, epochs=float(math.ceil(cfg.min_steps / per_epoch)))


def candidates(cfg) -> list:
    """The recipes `cfg.search` asks for (keys in sorted order, values as given), or `[cfg]` without a search."""
    keys = sorted(cfg.search)
    return [dataclasses.replace(cfg, **dict(zip(keys, values, strict=True)))
            for values in itertools.product(*(cfg.search[k] for k in keys))] or [cfg]


def searching(cfg) -> bool:
    """Whether `cfg` is one candidate of several: it must then end with a validation loss to be compared on."""
    return len(candidates(cfg)) > 1


def choice(cfg) -> dict:
    return {k: getattr(cfg, k) for k in sorted(cfg.search)}


def searched(train_once):
    """A recipe's `train` (same signature) that sizes the epochs to the data and, with `search`, trains every
    candidate into a scratch directory, keeps the one with the lowest validation loss in `adapter_out` (and its
    training curves in `live_dir`), and counts every candidate's training in the up-front cost."""

    @functools.wraps(train_once)
    def train(cfg, train_rows: list[dict], val_rows: list[dict], labels: dict, base: str, adapter_out: Path,
              checkpoints_root: Path, seed: int, live_dir: str | None = None) -> dict:
        tried = candidates(sized(cfg, len(train_rows)))
        if len(tried) == 1:
            return train_once(tried[0], train_rows, val_rows, labels, base, adapter_out, checkpoints_root, seed,
                              live_dir)
        if not val_rows:
            raise PipelineError("recipe.search needs validation rows to choose on (the validation split is empty)")
        runs = []
        with tempfile.TemporaryDirectory(dir=Path(adapter_out).parent, prefix=".search-") as scratch:
            for i, c in enumerate(tried):
                print(f"candidate {i + 1} of {len(tried)}: {choice(c)}")
                out, live = Path(scratch, f"adapter-{i}"), Path(scratch, f"live-{i}") if live_dir else None
                metrics = train_once(c, train_rows, val_rows, labels, base, out, checkpoints_root, seed,
                                     str(live) if live else None)
                runs.append((metrics, out, live))
                print(f"candidate {i + 1}: validation loss {metrics['best_eval_loss']:.4f}")
            best = min(range(len(runs)), key=lambda i: runs[i][0]["best_eval_loss"])  # a tie keeps the first
            shutil.copytree(runs[best][1], adapter_out, dirs_exist_ok=True)
            if live_dir:
                shutil.copytree(runs[best][2], live_dir, dirs_exist_ok=True)
        chosen = runs[best][0]
        print(f"chosen on validation: {choice(tried[best])}")
        return {
            **chosen,
            "chosen": choice(tried[best]),
            "search": [{**choice(c), "val_loss": m["best_eval_loss"], "epochs": m["epochs"],
                        "train_seconds": m["train_seconds"]} for c, (m, _, _) in zip(tried, runs, strict=True)],
            # the search is part of what the method cost up front
            "train_seconds": sum(m["train_seconds"] for m, _, _ in runs),
            "train_flops": sum(m["train_flops"] or 0 for m, _, _ in runs),
            "peak_memory_mb": max(m["peak_memory_mb"] for m, _, _ in runs),
        }

    return train


def search_info(training: dict) -> dict:
    """What a fine-tuned classifier's meta carries of its training's search (nothing without one), for the report."""
    return {"recipe_search": training["search"], "recipe_chosen": training["chosen"]} if training.get("search") else {}
