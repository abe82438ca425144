"""Seeded stratified splitting and the study's task sampling strategies (balanced, imbalanced, multi-task)."""
from __future__ import annotations

import random
from collections import Counter, defaultdict

from stages.lib.config import Split, Task
from stages.lib.errors import PipelineError
from stages.lib.paths import SPLITS


def stratified_split(records: list[dict], key: str, fractions: Split) -> dict[str, list[dict]]:
    """Split each class on its own: a class of n rows gives round(n*test) to test, round(n*val) to val, the rest
    to train. Rounding sends classes too small to stratify (n <= 2 at 64/16/20) wholly to train, where they can
    still be learnt; they then never appear in val/test. Deterministic for a given seed and input order."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_class[r["labels"][key]].append(r)
    rng = random.Random(fractions.seed)
    out = {s: [] for s in SPLITS}
    for label in sorted(by_class):
        rows = sorted(by_class[label], key=lambda r: r["id"])
        rng.shuffle(rows)
        n_test = round(len(rows) * fractions.test)
        n_val = round(len(rows) * fractions.val)
        out["test"] += rows[:n_test]
        out["val"] += rows[n_test : n_test + n_val]
        out["train"] += rows[n_test + n_val :]
    for s in SPLITS:
        out[s].sort(key=lambda r: r["id"])
    return out


def render_text(fields: dict[str, str]) -> str:
    """One input field is the text itself; several become `Field: value` lines in dataset order."""
    if len(fields) == 1:
        return next(iter(fields.values()))
    return "\n".join(f"{k}: {v}" for k, v in fields.items())


def sample_task(splits: dict[str, list[dict]], task: Task, seed: int) -> dict[str, list[dict]]:
    """Apply a task's sampling to every split. Which classes take part is decided on train only."""
    labels = task.labels
    train_counts = [Counter(r["labels"][f] for r in splits["train"]) for f in labels]
    if task.sampling == "balanced":
        keep = [{c for c, _ in sorted(train_counts[0].items(), key=lambda kv: (-kv[1], kv[0]))[: task.top_n]}]
    else:
        keep = [{c for c, n in counts.items() if n >= task.min_count} for counts in train_counts]

    rng = random.Random(seed)
    out = {}
    for split in SPLITS:
        rows = [r for r in splits[split] if all(r["labels"][f] in k for f, k in zip(labels, keep, strict=True))]
        if task.sampling == "balanced":
            rows = _equalise(rows, labels[0], task.max_per_class, rng)
        out[split] = [
            {"id": r["id"], "text": render_text(r["fields"]), "labels": {f: r["labels"][f] for f in labels}}
            for r in rows
        ]
        if not out[split]:
            raise PipelineError(f"task sampling left split {split!r} empty: lower min_count/top_n or use more data")
    return out


def _equalise(rows: list[dict], key: str, cap: int | None, rng: random.Random) -> list[dict]:
    by_class: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_class[r["labels"][key]].append(r)
    n = min(len(v) for v in by_class.values()) if by_class else 0
    if cap:
        n = min(n, cap)
    picked = [r for label in sorted(by_class) for r in rng.sample(by_class[label], n)]
    return sorted(picked, key=lambda r: r["id"])


def label_space(train: list[dict], fields: list[str]) -> dict[str, list[str]]:
    """The allowed labels of each field: those seen in train, in a fixed (sorted) order."""
    return {f: sorted({r["labels"][f] for r in train}) for f in fields}
