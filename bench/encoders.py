"""Benchmark: the sentence-encoder methods (embedding_lr, setfit, encoder_finetuned) beside TF-IDF on every task,
on the same rows, in one run: train and predict samples/s, each fit's peak memory (the child process's maximum
resident set), and test accuracy, each paired (exact McNemar, and the difference with its bootstrap interval)
against TF-IDF trained in this run and against the two LLM fine-tunings' committed test predictions
(data/predictions/<task>/finetuned*.jsonl, the pipeline's own, on the same test rows). Each method x task runs in
a fresh process (`--child`), with the pipeline's params: its peak memory is its own.

python -m bench encoders                        # every task of report.tasks
python -m bench encoders --tasks imbalanced     # one task
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

METHODS = ("baseline", "embedding_lr", "setfit", "encoder_finetuned")
LLM = ("finetuned", "finetuned_head")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--tasks", nargs="*", default=None, help="default: report.tasks")
    ap.add_argument("--methods", nargs="*", default=list(METHODS))


def child(task: str, method: str, out: str) -> None:
    """One fit and one prediction of the test split, timed; the predictions and times to `out`."""
    from stages.lib import paths
    from stages.lib.config import load_params
    from stages.lib.files import read_jsonl, write_json
    from stages.lib.methods.registry import build

    params = load_params()
    train, val, test = (read_jsonl(paths.task_split(task, s)) for s in ("train", "val", "test"))
    start = time.perf_counter()
    clf = build(params, task, method).fit(train, val)
    fitted = time.perf_counter()
    preds = clf.predict(test)
    done = time.perf_counter()
    write_json(Path(out), {"train_rows": len(train), "fit_s": fitted - start, "predict_s": done - fitted,
                           "preds": [{"id": p["id"], "pred": p["pred"]} for p in preds]})


def right(preds: list[dict], test: list[dict]) -> np.ndarray:
    by_id = {p["id"]: p["pred"] or {} for p in preds}
    return np.array([all(by_id.get(r["id"], {}).get(f) == v for f, v in r["labels"].items()) for r in test])


def run(args: argparse.Namespace) -> None:
    from stages.lib import paths
    from stages.lib.config import load_params
    from stages.lib.files import read_json, read_jsonl
    from stages.lib.scoring import paired_outcomes

    params = load_params()
    ev = params.evaluate

    def verdict(a: np.ndarray, b: np.ndarray | None) -> str:
        if b is None:
            return "—"
        c = paired_outcomes(a, b, ev.bootstrap, ev.confidence, params.seed)
        ci = c["difference_ci"]
        gap = f"{100 * c['difference']:+.1f} ({100 * ci['low']:+.1f}..{100 * ci['high']:+.1f})"
        return f"{gap}, p={c['mcnemar_p']:.2g}"

    rows = []
    for task in args.tasks or params.report.tasks:
        test = read_jsonl(paths.task_split(task, "test"))
        llm = {m: right(read_jsonl(p), test) if (p := paths.predictions(task, m)).exists() else None for m in LLM}
        outcomes = {}
        for method in args.methods:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out.json"
                proc = subprocess.Popen([sys.executable, "-m", "bench.encoders", "--child", task, method, str(out)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                _, status, usage = os.wait4(proc.pid, 0)
                if status:
                    raise SystemExit(f"{method} on {task} failed:\n{proc.stderr.read()[-2000:]}")
                result = read_json(out)
            ok = outcomes[method] = right(result["preds"], test)
            rows.append([task, method, result["train_rows"] / result["fit_s"], len(test) / result["predict_s"],
                         usage.ru_maxrss / 1024, f"{ok.mean():.1%}",
                         verdict(ok, outcomes.get("baseline")) if method != "baseline" else "",
                         *(verdict(ok, llm[m]) for m in LLM)])
            print(f"  {task}/{method}: fit {result['fit_s']:.1f} s, accuracy {ok.mean():.1%}", flush=True)
    print(f"\nparams as committed (methods.setfit.max_steps={params.method('setfit').max_steps}, "
          f"methods.encoder_finetuned.epochs={params.method('encoder_finetuned').epochs}); paired columns: "
          f"accuracy points of the row's method minus the other's ({ev.confidence:.0%} bootstrap interval), exact "
          "McNemar p, unadjusted")
    print(tabulate(rows, headers=["task", "method", "train rows/s (fit)", "predict samples/s", "peak MB",
                                  "test accuracy", "vs TF-IDF", "vs finetuned", "vs finetuned_head"],
                   floatfmt=".1f", tablefmt="github"))


if __name__ == "__main__":  # a child: python -m bench.encoders --child <task> <method> <out.json>
    child(*sys.argv[2:5])
