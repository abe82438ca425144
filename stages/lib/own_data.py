"""A user's own CSV: what `imbalanced` sampling would keep of its classes, the `min_count` to suggest, and its
dataset and task entries written into params.yaml with every comment kept (`python -m stages.add_data`)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from stages.lib.errors import PipelineError

MIN_COUNTS = (5, 10, 20, 50)  # the `min_count` options shown
SUGGESTED = 10  # training rows per class below which a class is too thin to learn or to score


def training_counts(counts: Counter, train_share: float) -> dict[str, float]:
    """Each class's expected rows in the training split (the split is stratified)."""
    return {label: n * train_share for label, n in counts.items()}


def options(counts: Counter, train_share: float) -> list[dict]:
    """What `imbalanced` sampling keeps at each `min_count`: classes, and the share of rows."""
    train = training_counts(counts, train_share)
    total = sum(counts.values())
    return [{"min_count": m, "classes": sum(v >= m for v in train.values()),
             "rows": sum(counts[k] for k, v in train.items() if v >= m) / total} for m in MIN_COUNTS]


def suggest(counts: Counter, train_share: float) -> int:
    """The `min_count` to write: SUGGESTED where it keeps two classes or more, else the largest that does."""
    ok = [o["min_count"] for o in options(counts, train_share) if o["classes"] >= 2]
    if not ok:
        raise PipelineError("fewer than two classes would have 5 or more training rows: nothing to compare "
                            "methods on")
    below = [m for m in ok if m <= SUGGESTED]
    return max(below) if below else min(ok)


def write_entries(path: Path, name: str, dataset: dict, task: dict) -> None:
    """Add `datasets.<name>` and `tasks.<name>` to params.yaml, round-tripped by ruamel so every comment and the
    layout stay; written whole or not at all."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from stages.lib.files import atomic_path

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a line of the user's file
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    doc = yaml.load(path.read_text(encoding="utf-8"))

    def flow(items: list[str]) -> CommentedSeq:
        seq = CommentedSeq(items)
        seq.fa.set_flow_style()
        return seq

    doc["datasets"][name] = CommentedMap({k: flow(v) if isinstance(v, list) else v for k, v in dataset.items()})
    doc["tasks"][name] = CommentedMap({k: flow(v) if isinstance(v, list) else v for k, v in task.items()})
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yaml.dump(doc, f)
