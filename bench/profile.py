"""Benchmark: where a fresh `dvc repro` spends its time, stage by stage, and how much of it is start-up.

Clones this checkout (committed files only) into a scratch directory, and there runs one plain `dvc repro`, the
README's command, with a per-user cache of its own (no checkpoint or response of an earlier run is reused). Its
output is read as it comes: a stage's wall time runs from DVC's "Running stage" line to the next stage's line (so
it holds the process start, the imports, the model load and DVC's hashing and lock writing after the command),
and stages DVC skips (outputs committed to git and up to date, such as the learning curve's) are counted as
skipped. Then, per stage group:
- `import s`: seconds to import every module its command can import (its closure, lazy imports included, as
  tests/test_layout.py computes it), in a fresh interpreter: what a stage pays before its first row apart from
  loading a model;
- `s per stage`: the group's wall seconds over its stages that ran;
- `dvc s`: DVC's own cost of one `dvc repro --single-item` of an up-to-date stage (process start, status,
  hashing): an upper bound on what DVC adds per stage inside one `dvc repro`.
The start-up share is (import + dvc) / wall. Finally it checks that a second `dvc repro` has nothing to do, and
whether the run's metrics equal the committed ones (`dvc metrics diff` against HEAD; timings, which every run
measures anew, aside), what share the classification head's stages took of all the others, and what share the
confidence work took of everything else: the cascade stages, their `evaluate` stages, and every method's validation
predictions (each stage's measured `predict_seconds` in `<method>.val.meta.json`; zero-shot's, which mining needed
before, aside).
It names the CPU's native bf16 kernels (`bench/cpu.py`): bf16 results are bit for bit only on the same ones, so
metrics that differ from the committed ones on another CPU are listed, one line a file.

python -m bench profile                      # the whole pipeline (about half an hour on 2 cores)
python -m bench profile --keep /tmp/run      # keep the scratch clone
python -m bench profile --commit 6c252a4     # an earlier commit, to compare back to back on the same machine
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from bench.cpu import describe

ROOT = Path(__file__).resolve().parents[1]
# measured again on every run, not a reproduced result: times, rates, memory, and the cascade's cost per million
# (each part's compute time, priced)
TIMING = ("seconds", "_per_s", "memory", "cost_per_million")
HEAD = ("finetune_head@", "predict_finetuned_head@", "curve_finetuned_head@")  # the classification head's own stages


def sh(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    # A cache of its own: fine-tuning checkpoints of an earlier run would otherwise be resumed, not retrained.
    env = {**os.environ, "XDG_CACHE_HOME": str(cwd / ".profile-cache")}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


def short(addressing: str) -> str:
    """A stage's name without the pipeline file that addresses it ('scoring/dvc.yaml:evaluate@x' -> 'evaluate@x')."""
    return addressing.rpartition(":")[2]


def import_seconds(repo: Path, name: str) -> float | None:
    """A fresh interpreter importing the stage's whole closure; the interpreter's own start is subtracted. None
    for a stage group this checkout's layout test does not know, or whose closure (computed from this checkout)
    the profiled commit does not have (an earlier commit's)."""
    sys.path.insert(0, str(ROOT))
    from tests.test_layout import STAGES, stage_closure

    group = short(name).split("@")[0]
    if group not in STAGES:
        return None
    files, _ = stage_closure(group)
    mods = {f[:-3].replace("/", ".").removesuffix(".__init__") for f in files}
    code = "import importlib, time; t = time.perf_counter()\n" + "".join(
        f"importlib.import_module({m!r})\n" for m in sorted(mods)) + "print(time.perf_counter() - t)"
    proc = sh([sys.executable, "-c", code], repo, check=False)
    return float(proc.stdout.strip()) if proc.returncode == 0 else None


RUNNING = re.compile(r"^Running stage '([^']+)':")
SKIPPED = re.compile(r"^(?:Stage )?'([^']+)' (?:didn't change, skipping|is cached - skipping run)")


def stage_times(lines) -> tuple[dict[str, float], list[str]]:
    """(seconds, line) pairs of a `dvc repro`'s output -> each stage that ran and its seconds (from its "Running
    stage" line to the next stage's line, or to the last line), and the stages DVC skipped."""
    wall: dict[str, float] = {}
    skipped: list[str] = []
    current, since, now = None, 0.0, 0.0
    for now, line in lines:
        ran, skip = RUNNING.match(line), SKIPPED.match(line)
        if not (ran or skip):
            continue
        if current:
            wall[current] = now - since
        current, since = (ran.group(1), now) if ran else (None, now)
        if skip and not skip.group(1).endswith(".dvc"):  # a tracked file, not a stage
            skipped.append(skip.group(1))
    if current:
        wall[current] = now - since
    return wall, skipped


def repro_times(repo: Path) -> tuple[dict[str, float], list[str]]:
    """One plain `dvc repro` in `repo`, its output timed line by line as it comes (see `stage_times`); it fails
    loudly with the output's tail."""
    env = {**os.environ, "XDG_CACHE_HOME": str(repo / ".profile-cache"), "PYTHONUNBUFFERED": "1"}
    start, timed, tail = time.perf_counter(), [], []
    with subprocess.Popen(["dvc", "repro"], cwd=repo, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as proc:
        for line in proc.stdout:
            timed.append((time.perf_counter() - start, line))
            tail = (tail + [line])[-60:]
            if RUNNING.match(line):
                print(f"{timed[-1][0]:7.0f}s {line.strip()}", file=sys.stderr, flush=True)
        timed.append((time.perf_counter() - start, ""))  # the last stage ends with the output
    if proc.returncode:
        raise SystemExit(f"dvc repro failed in {repo}:\n{''.join(tail)}")
    return stage_times(timed)


def changed_lines(changed: dict) -> list[str]:
    """A line per metrics file that differs: its accuracy (or first changed key), old -> new, and how many more
    keys changed."""
    def fmt(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = []
    for f, m in sorted(changed.items()):
        key = "accuracy" if "accuracy" in m else next(iter(m))
        more = f" (and {len(m) - 1} more keys)" if len(m) > 1 else ""
        lines.append(f"  {f}: {key} {fmt(m[key].get('old'))} -> {fmt(m[key].get('new'))}{more}")
    return lines


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--keep", help="clone into this directory and keep it")
    ap.add_argument("--commit", help="profile this commit of the checkout instead of HEAD")


def run(args: argparse.Namespace) -> None:
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="profile-"))
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"{work} is not empty")
    sh(["git", "clone", "-q", str(ROOT), str(work)], ROOT)
    if args.commit:
        sh(["git", "checkout", "-q", args.commit], work)
    head = sh(["git", "rev-parse", "--short", "HEAD"], work).stdout.strip()
    start_all = time.perf_counter()
    wall, skipped = repro_times(work)
    total = time.perf_counter() - start_all
    second = sh(["dvc", "repro"], work).stdout
    noop = "Data and pipelines are up to date." in second
    diff = json.loads(sh(["dvc", "metrics", "diff", "HEAD", "--json"], work).stdout or "{}")
    changed = {f: {k: v for k, v in m.items() if v.get("diff") and not any(t in k for t in TIMING)}
               for f, m in diff.items()}
    changed = {f: m for f, m in changed.items() if m}

    groups: dict[str, list[str]] = defaultdict(list)
    for name in wall:
        groups[short(name).split("@")[0]].append(name)
    rows = []
    for group, names in sorted(groups.items(), key=lambda g: -sum(wall[n] for n in g[1])):
        seconds = sum(wall[n] for n in names)
        imp = import_seconds(work, names[0])
        t = time.perf_counter()
        sh(["dvc", "repro", "--single-item", names[0]], work)  # up to date: DVC's own cost
        dvc = time.perf_counter() - t
        skip = sum(short(n).split("@")[0] == group for n in skipped)
        rows.append([group, len(names), skip, seconds, seconds / len(names), seconds / total, imp, dvc,
                     min(1.0, ((imp or 0) + dvc) * len(names) / seconds) if seconds else None])
    head_s = sum(w for n, w in wall.items() if short(n).startswith(HEAD) or n.endswith("-finetuned_head"))
    print(f"fresh clone of {head}: {total:.0f} s in all; second dvc repro a no-op: {noop}; "
          f"metrics equal to the committed ones (timings aside): {not changed}")
    print(describe())
    print(f"{len(wall)} stages ran, {len(skipped)} were up to date and skipped"
          + (f" ({', '.join(skipped)})" if skipped else ""))
    print(f"the classification head's stages: {head_s:.0f} s, {head_s / (total - head_s):.1%} of all the others' "
          f"{total - head_s:.0f} s")
    val_metas = (work / "data/predictions").glob("*/*.val.meta.json")
    val_s = sum(json.loads(f.read_text())["predict_seconds"] for f in val_metas
                if not f.name.startswith(("zero_shot.", "cascade.")))
    cascade_s = sum(w for n, w in wall.items() if short(n).startswith("cascade@") or n.endswith("-cascade"))
    added = val_s + cascade_s
    print(f"confidence work: validation predictions {val_s:.0f} s + cascade stages and their evaluate "
          f"{cascade_s:.0f} s = {added:.0f} s, {added / (total - added):.1%} of everything else's "
          f"{total - added:.0f} s")
    headers = ["stage group", "stages run", "skipped", "wall s", "s per stage", "share", "import s", "dvc s",
               "start-up share"]
    print(tabulate(rows, headers=headers, floatfmt=".2f", tablefmt="github"))
    if changed:
        print(f"{len(changed)} metrics files differ from the committed ones:")
        for line in changed_lines(changed):
            print(line)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)

