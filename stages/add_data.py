"""Your CSV in one command: check it as `ingest` will, show its classes and what each sampling keeps, write its
dataset and task entries into params.yaml (comments kept), and print the one command that runs the comparison for
that task alone (not a pipeline stage: a command).

python -m stages.add_data data/raw/mine.csv --text "Final Narrative" --label EventTitle [--name mine] [--id ID]
    [--subject "injury report"] [--min-count N]
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from stages.lib.cli import run
from stages.lib.config import PARAMS, Dataset, load_params
from stages.lib.data import ingest, read_table
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
    yaml.width = 120
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="the file (under data/raw/, so DVC tracks it as the ingest stage's input)")
    ap.add_argument("--text", action="append", required=True, help="input column (repeat for several)")
    ap.add_argument("--label", required=True, help="the label column to predict")
    ap.add_argument("--id", default="ID", help="the column with a unique row id (default: ID)")
    ap.add_argument("--name", default=None, help="dataset and task name (default: the file's stem)")
    ap.add_argument("--subject", default="text", help="what one row is, for the prompts (default: text)")
    ap.add_argument("--min-count", type=int, default=None, help="classes with at least this many training rows")
    args = ap.parse_args()
    params = load_params()
    name = args.name or re.sub(r"\W+", "_", Path(args.csv).stem).strip("_").lower()
    if name in params.datasets or name in params.tasks:
        raise PipelineError(f"params.yaml: {name!r} is already a dataset or task (choose another --name)")
    spec = Dataset(path=args.csv, id=args.id, text=args.text, labels=[args.label], subject=args.subject)
    records, report = ingest(read_table(args.csv), name, spec, args.csv)  # exactly the ingest stage's check
    counts = Counter(r["labels"][args.label] for r in records)
    if len(counts) < 2:
        raise PipelineError(f"{args.csv}: column {args.label!r} has one class ({next(iter(counts))!r}): nothing "
                            "to classify")
    share = 1 - params.split.val - params.split.test
    print(f"{args.csv}: {report.rows_kept} of {report.rows_read} rows usable"
          + (f" (dropped {dict(report.dropped)})" if report.dropped else "") + f"; {len(counts)} classes of "
          f"{args.label!r}, the commonest: " + ", ".join(f"{k} ({v})" for k, v in counts.most_common(5)))
    print("imbalanced sampling keeps, by min_count (training rows per class):")
    for o in options(counts, share):
        print(f"  min_count {o['min_count']:>3}: {o['classes']:>3} classes, {o['rows']:.0%} of rows")
    min_count = args.min_count or suggest(counts, share)
    kept = next((o for o in options(counts, share) if o["min_count"] == min_count), None)
    write_entries(PARAMS, name, {"path": args.csv, "id": args.id, "text": args.text, "labels": [args.label],
                                 "subject": args.subject},
                  {"dataset": name, "labels": [args.label], "sampling": "imbalanced", "min_count": min_count})
    load_params()  # what was written reads back, or the error names the key
    print(f"params.yaml: added datasets.{name} and tasks.{name} (imbalanced, min_count {min_count}"
          + (f": {kept['classes']} classes" if kept else "") + ")")
    print(f"Run the comparison for {name} alone (first: an estimate of its time, then `dvc exp run`):\n"
          f"  python -m stages.run_task {name} --quick   # a first answer in minutes\n"
          f"  python -m stages.run_task {name}           # the full comparison")


if __name__ == "__main__":
    run(main)
