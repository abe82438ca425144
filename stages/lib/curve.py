"""The learning curve: how much labelled data each learning method needs. At each size, a seeded subsample of the
training split trains the TF-IDF baseline, is the example pool of nearest-neighbour few-shot, and fine-tunes the
base model with the pipeline's own recipe; all are scored on the same, full test split."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path

from stages.lib import paths, sft
from stages.lib.backends.engines import local_backend
from stages.lib.backends.factory import build_backend
from stages.lib.config import Params
from stages.lib.files import read_json, read_jsonl
from stages.lib.methods.base import plan_run
from stages.lib.methods.llm import PromptClassifier
from stages.lib.methods.tfidf import TfidfClassifier
from stages.lib.scoring import evaluate

METHODS = ("baseline", "few_shot_knn", "finetuned")  # the methods that learn from training rows


def subsample(rows: list[dict], size: int, seed: int) -> list[dict]:
    return sorted(random.Random(seed).sample(rows, min(size, len(rows))), key=lambda r: r["id"])


def score(clf, train, val, test, labels, params: Params) -> dict:
    clf.fit(train, val)
    plan_run(clf, test)
    preds = clf.predict(test)
    headline, _, _ = evaluate(preds, labels, {"predict_seconds": None, "fit_seconds": clf.fit_seconds_,
                                              "train_rows": clf.train_rows_},
                              params.evaluate.bootstrap, params.evaluate.confidence, params.seed)
    return {k: headline[k] for k in ("train_rows", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci")}


def curve_point(params: Params, task: str, size: int) -> dict:
    data = {s: read_jsonl(paths.task_split(task, s)) for s in paths.SPLITS}
    labels = read_json(paths.task_labels(task))
    train = subsample(data["train"], size, params.seed)
    knn, ft = params.method("few_shot_knn"), params.finetune
    out = {"baseline": score(TfidfClassifier(list(labels), params.method("baseline").C, params.method("baseline").ngram_max,
                                             params.seed), train, data["val"], data["test"], labels, params)}
    prompt = read_json(paths.prompt(task, knn.prompt))
    out["few_shot_knn"] = score(PromptClassifier(prompt, build_backend(params, knn.batch_size),
                                                 mode=knn.mode, knn=knn.knn, max_input_tokens=knn.max_input_tokens),
                                train, data["val"], data["test"], labels, params)
    val = subsample(data["val"], ft.max_val_samples or len(data["val"]), params.seed)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = sft.train(ft, train, val, str(paths.BASE_MODEL), Path(tmp) / "adapter",
                            ft.checkpoint_dir or paths.user_cache("checkpoints"), params.seed)
        method = params.method("finetuned")
        backend = local_backend(params.base_model, params.model_entry(params.base_model), method.batch_size,
                                str(Path(tmp) / "adapter"))
        system = {"system": ft.system, "fields": list(labels), "labels": labels, "examples": []}
        out["finetuned"] = score(PromptClassifier(system, backend, mode=method.mode,
                                                  max_input_tokens=metrics["max_input_tokens"],
                                                  fit_seconds=metrics["train_seconds"], train_rows=len(train)),
                                 train, data["val"], data["test"], labels, params)
    return {"task": task, "size": size, "methods": out}
