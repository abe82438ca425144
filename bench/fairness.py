"""Fine-tuning given a fair chance: each fine-tuned arm (generative LoRA, the classification head) against the
majority-class answerer and against TF-IDF, at an earlier commit and in this workspace, from results alone.

Per task and arm: the train rows it learned from, its test accuracy and macro-F1, the majority baseline's macro-F1
(the training split's commonest class answered for every test row, scored by the pipeline's own scoring, per field
and averaged as the metrics average), and its paired verdict against TF-IDF on the same test rows (accuracy
difference with a paired bootstrap interval, exact McNemar p, and Holm-adjusted over the arms of one task).
`--before` reads a commit's committed metrics (metrics/eval, metrics/rows) with git; "now" is the last
`dvc repro` here. Nothing is trained or run.

python -m bench fairness --before 6391f0f
python -m bench fairness --before 6391f0f --arms embedding_lr setfit encoder_finetuned finetuned finetuned_head
"""
from __future__ import annotations

import json
import subprocess
from collections import Counter

import numpy as np
from tabulate import tabulate

from stages.lib import paths
from stages.lib.config import load_params
from stages.lib.files import read_jsonl
from stages.lib.intervals import holm, resamples
from stages.lib.scoring import field_metrics, paired_outcomes

ARMS = ("finetuned", "finetuned_head")


def add_arguments(ap) -> None:
    ap.add_argument("--before", default="HEAD", help="the commit whose committed results are 'before'")
    ap.add_argument("--tasks", nargs="*", default=None, help="default: report.tasks")
    ap.add_argument("--arms", nargs="*", default=list(ARMS), help="the methods set against TF-IDF and the majority "
                    "answerer (default: the two LLM fine-tunings; any method of report.methods)")


def committed(commit: str | None, path) -> dict | None:
    """A results file at `commit` (None: this workspace's), or None where it does not exist."""
    if commit is None:
        return json.loads(path.read_text()) if path.exists() else None
    out = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


def majority_macro_f1(task: str, params) -> float:
    """The macro-F1 of answering every test row with each field's commonest training class."""
    train, test = read_jsonl(paths.task_split(task, "train")), read_jsonl(paths.task_split(task, "test"))
    fields = list(test[0]["labels"])
    common = {f: Counter(r["labels"][f] for r in train).most_common(1)[0][0] for f in fields}
    idx = resamples(len(test), 1, params.seed)  # the figure itself, no interval
    return float(np.mean([field_metrics([r["labels"][f] for r in test], [common[f]] * len(test),
                                        sorted({r["labels"][f] for r in train + test}), idx, 0.95)[0]["macro_f1"]
                          for f in fields]))


def outcomes(rows: dict) -> dict[str, bool]:
    return dict(zip(rows["ids"], (c == "1" for c in rows["correct"]), strict=True))


def paired(arm: dict, tfidf: dict, params) -> dict:
    a, b = outcomes(arm), outcomes(tfidf)
    ids = sorted(set(a) & set(b))
    return paired_outcomes(np.array([a[i] for i in ids]), np.array([b[i] for i in ids]), params.evaluate.bootstrap,
                           params.evaluate.confidence, params.seed)


def verdict(p: dict, holm_p: float) -> str:
    ci = p["difference_ci"]
    return (f"{p['difference'] * 100:+.1f} ({ci['low'] * 100:+.1f}..{ci['high'] * 100:+.1f}), "
            f"p={p['mcnemar_p']:.2g}, Holm p={holm_p:.2g}")


def run(args) -> None:
    params = load_params()
    tasks = args.tasks or params.report.tasks
    table, beaten = [], []
    for task in tasks:
        floor = majority_macro_f1(task, params)
        for when, commit in ((f"before ({args.before})", args.before), ("now", None)):
            found = []
            for arm in args.arms:
                head = committed(commit, paths.eval_metrics(task, arm))
                rows, tfidf = (committed(commit, paths.eval_rows(task, m)) for m in (arm, "baseline"))
                if head is not None and rows is not None and tfidf is not None:
                    found.append((arm, head, paired(rows, tfidf, params)))
            # one family per task and commit: the arms' comparisons with TF-IDF, as the report adjusts its own
            for (arm, head, p), adjusted in zip(found, holm([p["mcnemar_p"] for _, _, p in found]), strict=True):
                above = head["macro_f1"] > floor
                if when == "now":
                    beaten.append(above)
                table.append([task, arm, when, head["train_rows"], f"{head['accuracy']:.1%}",
                              f"{head['macro_f1']:.3f}", f"{floor:.3f}", "yes" if above else "NO",
                              verdict(p, adjusted)])
    print(f"each arm's test macro-F1 against the majority-class answerer's, and its paired verdict against TF-IDF "
          f"(accuracy points, {params.evaluate.confidence:.0%} paired bootstrap interval, exact McNemar p, and "
          f"Holm-adjusted over the arms of one task and commit)")
    print(tabulate(table, headers=["task", "arm", "results", "train rows", "accuracy", "macro-F1",
                                   "majority macro-F1", "above majority", "vs TF-IDF"],
                   tablefmt="github", disable_numparse=True))
    print(f"now: {sum(beaten)} of {len(beaten)} arms above the majority-class answerer's macro-F1")
