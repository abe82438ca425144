"""The learning curve and the seed spread: how a learning method does on a given set of training rows. At each
size, a seeded subsample of the training split trains the TF-IDF baseline, is the example pool of
nearest-neighbour few-shot, or fine-tunes the base model with the method's recipe (and its own draw of training
and validation rows); each is built by the method registry as its prediction stage builds it and scored on the
same, full test split."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path

from stages.lib.config import Params
from stages.lib.methods.base import Classifier, plan_run
from stages.lib.methods.registry import build, method_type, train_adapter
from stages.lib.scoring import score_predictions


def subsample(rows: list[dict], size: int, seed: int) -> list[dict]:
    return sorted(random.Random(seed).sample(rows, min(size, len(rows))), key=lambda r: r["id"])


def score(clf: Classifier, train, val, test, labels, params: Params) -> dict:
    clf.fit(train, val)
    plan_run(clf, test)
    preds = clf.predict(test)
    meta = {"predict_seconds": None, "fit_seconds": clf.fit_seconds_, "train_rows": clf.train_rows_}
    headline, _, _ = score_predictions(preds, labels, meta, params.evaluate.bootstrap, params.evaluate.confidence,
                                       params.seed)
    return {k: headline[k] for k in ("train_rows", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci")}


def point(params: Params, task: str, method: str, train: list[dict], data: dict, labels: dict,
          seed: int | None = None) -> dict:
    """`method` learning from `train` and scored on `data["test"]`, as its pipeline stages would: a method with a
    recipe trains a scratch adapter first (under training `seed`; default: the recipe's first)."""
    if not method_type(params, method).recipe:
        clf = build(params, task, method)
        if seed is not None:  # a method trained in its prediction stage (SetFit) holds its seed itself
            clf.seed = seed
        return score(clf, train, data["val"], data["test"], labels, params)
    with tempfile.TemporaryDirectory() as tmp:
        training = train_adapter(params, method, task, train, data["val"], labels, Path(tmp) / "adapter", seed)
        clf = build(params, task, method, Path(tmp) / "adapter", training)
        return {**score(clf, train, data["val"], data["test"], labels, params),
                "train_loss": training.get("train_loss"), "train_seconds": training.get("train_seconds")}
