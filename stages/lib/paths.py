"""Where every artifact lives: the one place that builds these paths (dvc.yaml spells the same layout)."""
from __future__ import annotations

import os
from pathlib import Path

SPLITS = ("train", "val", "test")
BASE_MODEL = Path("models/base")
PROJECT = "ft-vs-pe"


def interim(dataset: str) -> Path:
    return Path(f"data/interim/{dataset}.jsonl")


def label_map(dataset: str) -> Path:
    return Path(f"data/interim/{dataset}.labels.json")


def ingest_metrics(dataset: str) -> Path:
    return Path(f"metrics/ingest/{dataset}.json")


def split(dataset: str, name: str) -> Path:
    return Path(f"data/splits/{dataset}/{name}.jsonl")


def task_split(task: str, name: str) -> Path:
    return Path(f"data/tasks/{task}/{name}.jsonl")


def task_labels(task: str) -> Path:
    return Path(f"data/tasks/{task}/labels.json")


def prompt(task: str, name: str) -> Path:
    return Path(f"data/prompts/{task}/{name}.json")


def predictions(task: str, method: str, split: str = "test") -> Path:
    """Test predictions carry no suffix (they are what `evaluate` scores); other splits are `.<split>`."""
    return Path(f"data/predictions/{task}/{method}" + ("" if split == "test" else f".{split}") + ".jsonl")


def predictions_meta(task: str, method: str, split: str = "test") -> Path:
    return predictions(task, method, split).with_suffix(".meta.json")


def adapter(task: str) -> Path:
    return Path(f"models/adapters/{task}")


def train_metrics(task: str) -> Path:
    return Path(f"metrics/train/{task}.json")


def train_live(task: str) -> Path:
    return Path(f"metrics/train/{task}")


def head_adapter(task: str) -> Path:
    """The classification-head fine-tuning's adapter (LoRA, the head, its label layout)."""
    return Path(f"models/head_adapters/{task}")


def head_train_metrics(task: str) -> Path:
    return Path(f"metrics/train_head/{task}.json")


def head_train_live(task: str) -> Path:
    return Path(f"metrics/train_head/{task}")


def eval_metrics(task: str, method: str) -> Path:
    return Path(f"metrics/eval/{task}/{method}.json")


def eval_timings(task: str, method: str) -> Path:
    """Speed, tokens and fit time: apart from the headline metrics, since they change on every run."""
    return Path(f"metrics/timings/{task}/{method}.json")


def eval_details(task: str, method: str) -> Path:
    """Per-field and per-class figures: opened on purpose, not part of every metrics diff."""
    return Path(f"metrics/details/{task}/{method}.json")


def eval_rows(task: str, method: str) -> Path:
    """Each test row's id and whether its exact match was right: what the pull-request gate pairs, base with head."""
    return Path(f"metrics/rows/{task}/{method}.json")


def comparison(task: str) -> Path:
    """Paired comparisons of the fine-tuned model against every other method on the same test rows."""
    return Path(f"metrics/compare/{task}.json")


def cascade(task: str) -> Path:
    """What the cascade chose on validation (its parts, threshold, escalated shares) and its paired verdicts."""
    return Path(f"metrics/cascade/{task}.json")


def curve_point(task: str, method: str, size: int) -> Path:
    return Path(f"metrics/curve/{task}/{method}/{size}.json")


def seed_point(task: str, method: str, seed: int) -> Path:
    return Path(f"metrics/seeds/{task}/{method}/{seed}.json")


def confusion(task: str, method: str) -> Path:
    return Path(f"metrics/confusion/{task}/{method}")


def user_cache(*parts: str) -> Path:
    """The per-user cache ($XDG_CACHE_HOME or ~/.cache, then the project's name): what DVC cannot cache and a
    `dvc exp run --queue`/`--temp` copy of the repository must still find (paid API responses, training
    checkpoints). Entries are keyed by content, so checkouts and experiments share them safely."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root.joinpath(PROJECT, *parts)


def decision(task: str) -> Path:
    return Path(f"metrics/decision/{task}.json")


def decision_plot(task: str, kind: str, ext: str = "json") -> Path:
    """The decision's plot data (`kind`: frontier, total_cost) as DVC plots read it, or its PNG."""
    return Path(f"metrics/decision_plots/{kind}/{task}.{ext}")
