"""Benchmark: how the data-side steps grow with the rows, through the library's own code.

Datasets of 10k, 30k and 100k rows are made by resampling the shipped OSHA sample (new ids, lightly perturbed
narratives: a seeded word dropped or two neighbours swapped). For each size, each step runs in its own process,
so its peak resident memory is its own:
- ingest, split and task sampling (the `imbalanced` task's recipe);
- TF-IDF + linear SVM: fit (the C grid of `methods.baseline`) and predict the test split;
- nearest-neighbour selection (`methods.few_shot_knn.knn` examples) for every test row;
- evaluate: headline figures with `evaluate.bootstrap` resamples on the test split.

python -m bench scale                       # 10k, 30k, 100k
python -m bench scale --sizes 2000 5000     # a quick look
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from stages.lib.config import load_params
from stages.lib.files import read_json, read_jsonl, write_json, write_jsonl

RAW = Path("data/raw/osha_sample.csv")
STEPS = ["ingest + split + task", "tfidf fit + predict", "knn selection", "evaluate"]


def make_dataset(n: int, seed: int, out: Path) -> None:
    """`n` rows drawn with replacement from the sample, each with a new id and a lightly perturbed narrative."""
    params = load_params()
    spec = params.dataset("osha")
    df = pd.read_csv(RAW, dtype=str, keep_default_na=False)
    rng = random.Random(seed)
    rows = df.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
    rows[spec.id] = [f"{v}-{i}" for i, v in enumerate(rows[spec.id])]

    def perturb(text: str) -> str:
        words = text.split()
        if len(words) > 3:
            i = rng.randrange(len(words) - 1)
            if rng.random() < 0.5:
                del words[i]
            else:
                words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)

    rows[spec.text[0]] = [perturb(t) for t in rows[spec.text[0]]]
    rows.to_csv(out, index=False)


def run_step(step: str, work: Path) -> dict:
    """One step, in this process; returns its seconds. Inputs come from `work`, outputs go there."""
    from stages.lib.data import ingest, read_table
    from stages.lib.methods.llm import PromptClassifier
    from stages.lib.methods.tfidf import TfidfClassifier
    from stages.lib.sampling import label_space, sample_task, stratified_split
    from stages.lib.scoring import score_predictions

    params = load_params()
    task = params.task("imbalanced")
    spec = params.dataset(task.dataset)
    split = lambda s: read_jsonl(work / f"{s}.jsonl")  # noqa: E731
    start = time.perf_counter()
    if step == "ingest + split + task":
        records, _ = ingest(read_table(work / "raw.csv"), task.dataset, spec, str(work / "raw.csv"))
        splits = stratified_split(records, spec.labels[0], params.split)
        out = sample_task(splits, task, params.split.seed)
        seconds = time.perf_counter() - start
        for s, rows in out.items():
            write_jsonl(work / f"{s}.jsonl", rows)
        write_json(work / "labels.json", label_space(out["train"], task.labels))
        return {"seconds": seconds, "rows": sum(len(r) for r in out.values())}
    train, val, test = split("train"), split("val"), split("test")
    start = time.perf_counter()
    if step == "tfidf fit + predict":
        base = params.method("baseline")
        clf = TfidfClassifier(task.labels, base.C, base.ngram_max, params.seed, base.search_rows)
        preds = clf.fit(train, val).predict(test)
        seconds = time.perf_counter() - start
        write_jsonl(work / "preds.jsonl", preds)
    elif step == "knn selection":
        prompt = {"system": "", "fields": task.labels, "labels": {}, "examples": []}
        clf = PromptClassifier(prompt, None, mode="constrained", knn=params.method("few_shot_knn").knn).fit(train, val)
        clf.neighbours(test)
        seconds = time.perf_counter() - start
    elif step == "evaluate":
        preds = read_jsonl(work / "preds.jsonl")
        start = time.perf_counter()
        meta = {"predict_seconds": 1.0, "fit_seconds": 0.0, "train_rows": 0}
        score_predictions(preds, read_json(work / "labels.json"), meta, params.evaluate.bootstrap,
                          params.evaluate.confidence, params.seed)
        seconds = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown step {step!r}")
    return {"seconds": seconds, "rows": len(test)}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--step", help=argparse.SUPPRESS)  # one step in its own process
    ap.add_argument("--work", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> None:
    if args.step:
        out = run_step(args.step, Path(args.work))
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            work = Path(tmp) / str(n)
            work.mkdir()
            make_dataset(n, load_params().seed, work / "raw.csv")
            for step in STEPS:
                proc = subprocess.run([sys.executable, "-m", "bench", "--out", "-", "scale", "--step", step,
                                       "--work", str(work)], capture_output=True, text=True)
                if proc.returncode:
                    raise SystemExit(f"{step} at {n} rows failed:\n{proc.stderr[-3000:]}")
                results[step, n] = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"{n} rows, {step}: {results[step, n]['seconds']:.1f}s, "
                      f"{results[step, n]['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
    first, last = args.sizes[0], args.sizes[-1]
    size = lambda n: f"{n // 1000}k" if n % 1000 == 0 else str(n)  # noqa: E731
    headers = ["step"] + [f"{size(n)} s" for n in args.sizes] + [f"growth {size(first)}→{size(last)}",
                                                                 f"peak MB at {size(last)}"]
    rows = [[step] + [results[step, n]["seconds"] for n in args.sizes]
            + [results[step, last]["seconds"] / max(results[step, first]["seconds"], 1e-9),
               results[step, last]["peak_mb"]] for step in STEPS]
    print(f"rows growth {last / first:.0f}x; bootstrap {load_params().evaluate.bootstrap}; 2 cores")
    print(tabulate(rows, headers=headers, floatfmt=".2f", tablefmt="github"))

