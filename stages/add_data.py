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
from stages.lib.own_data import options, suggest, write_entries


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
        raise PipelineError(f"{args.csv}: column {args.label!r} has one class ({next(iter(counts))!r})")
    share = 1 - params.split.val - params.split.test
    print(f"{args.csv}: {report.rows_kept} of {report.rows_read} rows usable"
          + (f" (dropped {dict(report.dropped)})" if report.dropped else "") + f"; {len(counts)} classes of "
          f"{args.label!r}, the commonest: " + ", ".join(f"{k} ({v})" for k, v in counts.most_common(5)))
    print("imbalanced sampling keeps, by min_count (training rows per class):\n" + "\n".join(
        f"  min_count {o['min_count']:>3}: {o['classes']:>3} classes, {o['rows']:.0%} of rows"
        for o in options(counts, share)))
    min_count = args.min_count or suggest(counts, share)
    write_entries(PARAMS, name, {"path": args.csv, "id": args.id, "text": args.text, "labels": [args.label],
                                 "subject": args.subject},
                  {"dataset": name, "labels": [args.label], "sampling": "imbalanced", "min_count": min_count})
    load_params()  # what was written reads back, or the error names the key
    print(f"params.yaml: added datasets.{name} and tasks.{name} (imbalanced, min_count {min_count})")
    print(f"Run the comparison for {name} alone (first: an estimate of its time, then `dvc exp run`):\n"
          f"  python -m stages.run_task {name} --quick   # a first answer in minutes\n"
          f"  python -m stages.run_task {name}           # the full comparison")


if __name__ == "__main__":
    run(main)
