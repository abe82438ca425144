"""The learning curve: how much labelled data each learning method needs. At each size, a seeded subsample of the
training split trains the TF-IDF baseline, is the example pool of nearest-neighbour few-shot, or fine-tunes the
base model with the pipeline's own recipe (and its own draw of training and validation rows); each is built by
the same `build_classifier` as its pipeline stage and scored on the same, full test split."""
from __future__ import annotations

import random

from stages.lib.config import Params
from stages.lib.methods.base import Classifier, plan_run
from stages.lib.scoring import score_predictions

METHODS = ("baseline", "few_shot_knn", "finetuned")  # the methods that learn from training rows


def subsample(rows: list[dict], size: int, seed: int) -> list[dict]:
    return sorted(random.Random(seed).sample(rows, min(size, len(rows))), key=lambda r: r["id"])


def score(clf: Classifier, train, val, test, labels, params: Params) -> dict:
    clf.fit(train, val)
    plan_run(clf, test)
    preds = clf.predict(test)
    headline, _, _ = score_predictions(preds, labels, {"predict_seconds": None, "fit_seconds": clf.fit_seconds_,
                                              "train_rows": clf.train_rows_},
                              params.evaluate.bootstrap, params.evaluate.confidence, params.seed)
    return {k: headline[k] for k in ("train_rows", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci")}
