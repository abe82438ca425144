"""Run the comparison for one task alone, after saying how long it should take (not a pipeline stage: a command).

python -m stages.run_task mine            # the full comparison for task `mine`
python -m stages.run_task mine --quick    # `-S profile=quick`: a first answer in minutes, labelled quick
python -m stages.run_task mine --dry      # the estimate and the command, nothing run

It builds the task's rows first (`dvc repro task@<name>`: seconds), estimates each stage group's time
(stages/lib/time_estimate.py), then runs `dvc exp run` with `report.tasks` and `learning_curve.tasks` set to this
task, so no other task's stage runs, and the report and the README's results block give this task's answer.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

from stages.lib import paths
from stages.lib.cli import run
from stages.lib.errors import PipelineError
from stages.lib.time_estimate import estimate, profile_overrides, profiled_params


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
    # the profile's overrides are also set for DVC itself: it expands stage lists and commands from params.yaml
    # (learning_curve.tasks, evaluate.val_rows), where the profile, applied in load_params, cannot reach
    sets = {"report.tasks": [args.task], "learning_curve.tasks": [args.task], "seed_spread.tasks": [],
            **(profile_overrides("quick") if args.quick else {})} | ({"profile": "quick"} if args.quick else {})
    rows = estimate(params, args.task, curve=bool(sets["learning_curve.tasks"]), profiled=args.quick)
    print(f"estimated time for {args.task}" + (" (quick profile)" if args.quick else "")
          + ", from the times measured by the last `dvc repro` here:")
    for name, secs in rows:
        print(f"  {name:<40} {'not measured here' if secs is None else f'{secs / 60:6.1f} min'}")
    known = [s for _, s in rows if s is not None]
    print(f"  {'total':<40} {sum(known) / 60:6.1f} min" + ("" if len(known) == len(rows) else " (of what is known)"))
    cmd = ["dvc", "exp", "run", "-n", f"{args.task}{'-quick' if args.quick else ''}",
           *[a for k, v in sets.items() for a in ("-S", f"{k}={json.dumps(v) if not isinstance(v, str) else v}")],
           "report"]
    print("$ " + shlex.join(cmd))
    if not args.dry:
        sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    run(main)
