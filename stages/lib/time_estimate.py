"""How long one task's comparison should take here, before it runs (`python -m stages.run_task`): each stage
group's seconds from the task's size and the times the last `dvc repro` here measured for the shipped tasks, and
what every stage pays before its first row (a Python process importing torch and transformers, timed now)."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from stages.lib import paths
from stages.lib.config import PARAMS, load_params
from stages.lib.files import read_json, read_jsonl
from stages.lib.finetuning import search
from stages.lib.methods.registry import curve_methods, method_type, recipe
from stages.lib.pipeline import reads


def profile_overrides(profile: str) -> dict:
    """The dotted keys `profiles.<profile>` sets, as params.yaml gives them."""
    raw = YAML(typ="safe", pure=True).load(PARAMS.read_text(encoding="utf-8"))
    return dict((raw.get("profiles") or {}).get(profile) or {})


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


def measured(params) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Seconds per predicted row per method, training seconds per row-epoch per recipe section, and fit seconds
    per training row for the methods that train inside their prediction stage (TF-IDF, the encoder methods), from
    the figures the last `dvc repro` here wrote for the shipped tasks (medians over tasks)."""
    per_row, per_sample, per_fit_row = {}, {}, {}
    for m in params.report.methods:
        values = [read_json(p)["latency_s"] for t in params.tasks if (p := paths.eval_timings(t, m)).exists()]
        if values:
            per_row[m] = statistics.median(values)
        fits = [read_json(p)["fit_seconds"] / max(read_json(paths.eval_metrics(t, m))["train_rows"], 1)
                for t in params.tasks if (p := paths.eval_timings(t, m)).exists()]
        if fits:
            per_fit_row[m] = statistics.median(fits)
    for section, path in (("finetune", paths.train_metrics), ("finetune_head", paths.head_train_metrics)):
        # a search's seconds are every candidate's (each about as long as the chosen one)
        values = [x["train_seconds"] / max(x["train_samples"] * x["epochs"] * len(x.get("search") or [0]), 1)
                  for t in params.tasks if (p := path(t)).exists() and (x := read_json(p)).get("epochs")]
        if values:
            per_sample[section] = statistics.median(values)
    return per_row, per_sample, per_fit_row


# The stages a task's run has besides its methods' (ingest, split, task, prompt, mined few-shot, compare, labels,
# decide, the cascade's own) and after them (report): a count, not a time.
FIXED_STAGES = 10
DATA_STAGES = 3  # ingest, split, task: run again under a profile, which is a param of theirs
# What a stage pays before its first row, timed now in a fresh process: the heavy imports nearly every stage makes,
# then loading the base model (the LLM stages do) where `base_model` has built it.
PROBE = ("import sys, time; t = time.perf_counter(); import torch, transformers, sklearn; "
         "i = time.perf_counter() - t; t = time.perf_counter(); from transformers import AutoModelForCausalLM; "
         "sys.argv[1] and AutoModelForCausalLM.from_pretrained(sys.argv[1]); print(i, time.perf_counter() - t)")


@dataclass(frozen=True)
class StartUp:
    imports: float   # a fresh Python process importing torch, transformers and scikit-learn
    load: float      # loading the base model (0: not built here yet)
    dvc: float       # DVC checking one stage (`dvc status <stage>`: its start, the lock, the hashes)


def startup_seconds(task: str) -> StartUp:
    """What one stage pays on this machine before its first row, measured now."""
    base = str(paths.BASE_MODEL) if paths.BASE_MODEL.exists() else ""
    out = subprocess.run([sys.executable, "-c", PROBE, base], check=True, capture_output=True, text=True).stdout
    imports, load = map(float, out.split())
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "status", "-q", f"task@{task}"], capture_output=True)
    return StartUp(imports, load, time.perf_counter() - start)


def estimate(params, task: str, curve: bool = True, startup: StartUp | None = None,
             profiled: bool = False) -> list[tuple[str, float | None]]:
    """(stage group, seconds) for `task`'s run, with its learning curve if `curve` (run_task draws one), under a
    profile if `profiled` (the data stages then run again); None where nothing was measured here to go by."""
    sizes = {s: len(read_jsonl(paths.task_split(task, s))) for s in ("train", "val", "test")}
    per_row, per_sample, per_fit_row = measured(params)
    val = min(sizes["val"], params.evaluate.val_rows)
    out = []
    stages = FIXED_STAGES

    def train_time(name: str, rows: int) -> float | None:
        section = method_type(params, name).recipe
        cfg = recipe(params, name)
        n = min(rows, cfg.max_train_samples or rows)
        passes = search.sized(cfg, n).epochs * len(search.candidates(cfg))  # the steps floor, every candidate
        return None if section not in per_sample else n * passes * per_sample[section]

    def fit_time(name: str, rows: int) -> float | None:
        """Trained inside the prediction stage; prompting's fit is an index, or mining zero-shot already paid."""
        if params.method(name).type == "prompt":
            return 0.0
        return per_fit_row[name] * rows if name in per_fit_row else None

    for m in (m for m in params.report.methods if method_type(params, m).scored):  # a cascade predicts nothing
        rows = sizes["test"] + (sizes["val"] if m == "zero_shot" else val)  # zero-shot predicts every val row
        predict = per_row[m] * rows if m in per_row else None
        train = (train_time(m, sizes["train"]) if method_type(params, m).recipe
                 else fit_time(m, sizes["train"]))
        stages += 2 + (1 if method_type(params, m).train_stage else 0)  # predict, evaluate (and train)
        out.append((f"{m} (train + predict)" if train else m,
                    None if predict is None or train is None else predict + train))
    if curve:
        for m in curve_methods(params):
            secs = [(train_time(m, s) if method_type(params, m).recipe else fit_time(m, s), per_row.get(m))
                    for s in params.learning_curve.sizes]
            known = all(t is not None and p is not None for t, p in secs)
            stages += len(secs)
            out.append((f"curve_{m} ({len(secs)} points)",
                        sum(t + p * sizes["test"] for t, p in secs) if known else None))
    startup = startup_seconds(task) if startup is None else startup
    stages += DATA_STAGES if profiled else 0
    builds = [p for p in (paths.BASE_MODEL, *(Path(r) for m in params.report.methods for r in reads(params, m, task)
                                              if r.startswith("models/encoders/"))) if not p.exists()]
    stages += len(set(builds))  # `base_model`, `encoder@<name>`: not built here yet
    per = startup.imports + startup.dvc
    out.append((f"start-up: {stages} stages x {per:.1f} s (imports {startup.imports:.1f} s + DVC "
                f"{startup.dvc:.1f} s, timed now)", stages * per))
    loads = sum(1 for m in params.report.methods if "models/base" in reads(params, m, task)) + len(
        {method_type(params, m).train_stage for m in params.report.methods} - {None})
    if startup.load:
        out.append((f"model loads: {loads} stages x {startup.load:.1f} s (timed now)", loads * startup.load))
    else:
        out.append((f"model loads: {loads} stages (the base model is not built here yet)", None))
    return out
