"""Run the comparison for one task alone, after saying how long it should take (not a pipeline stage: a command).

python -m stages.run_task mine            # the full comparison for task `mine`
python -m stages.run_task mine --quick    # `-S profile=quick`: a first answer in minutes, labelled quick
python -m stages.run_task mine --dry      # the estimate and the command, nothing run

It builds the task's rows first (`dvc repro task@<name>`: seconds), estimates each stage group's time from the
task's size and the times the last `dvc repro` here measured (metrics/timings, metrics/train*), then runs
`dvc exp run` with `report.tasks` and `learning_curve.tasks` set to this task, so no other task's stage runs, and
the report and the README's results block give this task's answer.
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

from stages.lib import paths
from stages.lib.cli import run
from stages.lib.config import PARAMS, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json, read_jsonl
from stages.lib.methods.registry import curve_methods, method_type, recipe


def profiled_params(profile: str | None):
    """params.yaml as the run will read it: with `profile` set, as `-S profile=<name>` sets it."""
    if profile is None:
        return load_params()
    raw = YAML(typ="safe", pure=True).load(PARAMS.read_text(encoding="utf-8"))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as f:
        YAML().dump({**raw, "profile": profile}, f)
    try:
        return load_params(f.name)
    finally:
        Path(f.name).unlink()


def measured(params) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per predicted row per method, and training seconds per row-epoch per recipe section, from the
    figures the last `dvc repro` here wrote for the shipped tasks (medians over tasks)."""
    per_row, per_sample = {}, {}
    for m in params.report.methods:
        values = [read_json(p)["latency_s"] for t in params.tasks if (p := paths.eval_timings(t, m)).exists()]
        if values:
            per_row[m] = statistics.median(values)
    for section, path in (("finetune", paths.train_metrics), ("finetune_head", paths.head_train_metrics)):
        values = [x["train_seconds"] / max(x["train_samples"] * x["epochs"], 1)
                  for t in params.tasks if (p := path(t)).exists() and (x := read_json(p)).get("epochs")]
        if values:
            per_sample[section] = statistics.median(values)
    return per_row, per_sample


def estimate(params, task: str) -> list[tuple[str, float | None]]:
    """(stage group, seconds) for `task`'s run; None where nothing was measured here to go by."""
    sizes = {s: len(read_jsonl(paths.task_split(task, s))) for s in ("train", "val", "test")}
    per_row, per_sample = measured(params)
    val = min(sizes["val"], params.evaluate.val_rows)
    out = []

    def train_time(name: str, rows: int) -> float | None:
        section = method_type(params, name).recipe
        cfg = recipe(params, name)
        n = min(rows, cfg.max_train_samples or rows)
        return None if section not in per_sample else n * cfg.epochs * per_sample[section]

    for m in params.report.methods:
        rows = sizes["test"] + (sizes["val"] if m == "zero_shot" else val)  # zero-shot predicts every val row
        predict = per_row[m] * rows if m in per_row else None
        train = train_time(m, sizes["train"]) if method_type(params, m).recipe else 0.0
        out.append((f"{m} (train + predict)" if train else m,
                    None if predict is None or train is None else predict + train))
    if task in params.learning_curve.tasks:
        for m in curve_methods(params):
            secs = [(train_time(m, s) if method_type(params, m).recipe else 0.0, per_row.get(m))
                    for s in params.learning_curve.sizes]
            known = all(t is not None and p is not None for t, p in secs)
            out.append((f"curve_{m} ({len(secs)} points)",
                        sum(t + p * sizes["test"] for t, p in secs) if known else None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("--quick", action="store_true", help="the quick profile (`-S profile=quick`)")
    ap.add_argument("--dry", action="store_true", help="print the estimate and the command; run nothing")
    args = ap.parse_args()
    params = profiled_params("quick" if args.quick else None)
    params.task(args.task)  # an unknown task: one line naming the known ones
    if not paths.task_split(args.task, "test").exists():
        print(f"building {args.task}'s rows: dvc repro task@{args.task}")
        if subprocess.run(["dvc", "repro", f"task@{args.task}"]).returncode:
            raise PipelineError(f"dvc repro task@{args.task} failed (its message is above)")
    rows = estimate(params, args.task)
    print(f"estimated time for {args.task}" + (" (quick profile)" if args.quick else "")
          + ", from the times measured by the last `dvc repro` here:")
    for name, secs in rows:
        print(f"  {name:<40} {'not measured here' if secs is None else f'{secs / 60:6.1f} min'}")
    known = [s for _, s in rows if s is not None]
    print(f"  {'total':<40} {sum(known) / 60:6.1f} min" + ("" if len(known) == len(rows) else " (of what is known)"))
    cmd = ["dvc", "exp", "run", "-n", f"{args.task}{'-quick' if args.quick else ''}",
           "-S", f"report.tasks=[{args.task}]", "-S", f"learning_curve.tasks=[{args.task}]",
           "-S", "seed_spread.tasks=[]", *(["-S", "profile=quick"] if args.quick else []), "report"]
    print("$ " + shlex.join(cmd))
    if not args.dry:
        sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    run(main)
