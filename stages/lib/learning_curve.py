"""The learning curve: how much labelled data each learning method needs. At each size, a seeded subsample of the
training split trains the TF-IDF baseline, is the example pool of nearest-neighbour few-shot, or fine-tunes the
base model with either of the pipeline's recipes (and their own draw of training and validation rows); each is
built by the same `build_classifier` as its pipeline stage and scored on the same, full test split."""
from __future__ import annotations

import random
from pathlib import Path

from stages.lib import paths
from stages.lib.config import Params
from stages.lib.methods.base import Classifier, plan_run
from stages.lib.scoring import score_predictions

METHODS = ("baseline", "few_shot_knn", "finetuned", "finetuned_head")  # the methods that learn from training rows
RECIPES = ("finetuned", "finetuned_head")  # ...of which these train an adapter for each point


def subsample(rows: list[dict], size: int, seed: int) -> list[dict]:
    return sorted(random.Random(seed).sample(rows, min(size, len(rows))), key=lambda r: r["id"])


def train_adapter(params: Params, method: str, train: list[dict], val: list[dict], labels: dict,
                  adapter: Path, seed: int | None = None) -> dict:
    """Fine-tune `method`'s recipe on the point's rows, drawn as its pipeline stage draws them, under training
    `seed` (default: the recipe's first, as its pipeline stage); the metrics."""
    from stages.lib.finetuning.rows import training_rows

    cfg = params.finetune_head if method == "finetuned_head" else params.finetune
    train, val = training_rows(cfg, train, val, params.seed)
    checkpoints = cfg.checkpoint_dir or paths.user_cache("checkpoints")
    seed = cfg.seeds[0] if seed is None else seed
    if method == "finetuned_head":
        from stages.lib.finetuning.head import train as finetune_head

        return finetune_head(cfg, train, val, labels, str(paths.BASE_MODEL), adapter, checkpoints, seed)
    from stages.lib.finetuning.generative import train as finetune

    return finetune(cfg, train, val, str(paths.BASE_MODEL), adapter, checkpoints, seed)


def score(clf: Classifier, train, val, test, labels, params: Params) -> dict:
    clf.fit(train, val)
    plan_run(clf, test)
    preds = clf.predict(test)
    meta = {"predict_seconds": None, "fit_seconds": clf.fit_seconds_, "train_rows": clf.train_rows_}
    headline, _, _ = score_predictions(preds, labels, meta, params.evaluate.bootstrap, params.evaluate.confidence,
                                       params.seed)
    return {k: headline[k] for k in ("train_rows", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci")}
