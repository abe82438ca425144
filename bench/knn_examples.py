"""Benchmark: what each nearest-neighbour example costs, and what bounding its length
(`methods.few_shot_knn.max_example_tokens`) does to speed and accuracy, on the learning-curve task's test rows,
the pipeline's model and prompt, one run. Zero-shot (no examples) is the reference row; each bound is compared
with the unbounded examples row by row (paired bootstrap interval, exact McNemar).

python -m bench knn_examples --bounds 128 64 32
"""
import argparse
import time

import numpy as np
from tabulate import tabulate

from stages.lib import paths
from stages.lib.backends.prompted_backend import prompted_backend
from stages.lib.config import load_params
from stages.lib.files import read_json, read_jsonl
from stages.lib.intervals import interval, resamples
from stages.lib.methods.llm import PromptClassifier
from stages.lib.scoring import exact_match, paired_outcomes


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--task", default=None, help="default: the first of learning_curve.tasks")
    ap.add_argument("--bounds", type=int, nargs="*", default=[128, 64, 32])
    ap.add_argument("--n", type=int, default=None, help="test rows (default: all)")


def knn_inputs(args: argparse.Namespace):
    """(params, task, few_shot_knn's params, train, val, test, its prompt, the prompted backend) as the pipeline has
    them, for the kNN benches (`--task`, `--n`)."""
    params = load_params()
    task = args.task or params.learning_curve.tasks[0]
    cfg = params.method("few_shot_knn")
    train, val = (read_jsonl(paths.task_split(task, s)) for s in ("train", "val"))
    test = read_jsonl(paths.task_split(task, "test"))[: args.n]
    prompt = read_json(paths.prompt(task, cfg.prompt))
    return params, task, cfg, train, val, test, prompt, prompted_backend(params, cfg.batch_size)


def run(args: argparse.Namespace) -> None:
    params, task, cfg, train, val, test, prompt, backend = knn_inputs(args)
    fields = prompt["fields"]
    runs = [("zero-shot (no examples)", 0, None), ("kNN, unbounded", cfg.knn, None)]
    runs += [(f"kNN, max_example_tokens={b}", cfg.knn, b) for b in args.bounds]
    results = {}
    for name, knn, bound in runs:
        clf = PromptClassifier(prompt, backend, mode=cfg.mode, knn=knn, max_input_tokens=cfg.max_input_tokens,
                               max_example_tokens=bound).fit(train, val)
        start = time.perf_counter()
        preds = clf.predict(test)
        results[name] = (time.perf_counter() - start, preds)
    idx = resamples(len(test), params.evaluate.bootstrap, params.seed)
    zero_tokens = np.mean([p["input_tokens"] for p in results[runs[0][0]][1]])
    unbounded = exact_match(results[runs[1][0]][1], fields)
    rows = []
    for name, knn, _ in runs:
        seconds, preds = results[name]
        right = exact_match(preds, fields)
        tokens = np.mean([p["input_tokens"] for p in preds])
        lo, hi = interval(right[idx].mean(1), params.evaluate.confidence)
        row = [name, tokens, (tokens - zero_tokens) / knn if knn else None, len(test) / seconds,
               f"{right.mean():.1%} [{lo:.1%}–{hi:.1%}]"]
        if knn and name != runs[1][0]:
            c = paired_outcomes(right, unbounded, params.evaluate.bootstrap, params.evaluate.confidence, params.seed)
            ci = c["difference_ci"]
            row.append(f"{100 * c['difference']:+.1f} pts ({100 * ci['low']:+.1f} to {100 * ci['high']:+.1f}), "
                       f"p={c['mcnemar_p']:.3g}")
        else:
            row.append("")
        rows.append(row)
    print(f"{task}: {len(test)} test rows, knn={cfg.knn}, model {params.model}")
    print(tabulate(rows, headers=["examples", "input tokens / sample", "tokens / example", "samples/s",
                                  "accuracy [95% CI]", "vs unbounded (paired)"], floatfmt=".1f", tablefmt="github"))

