"""The contract every method implements, scikit-learn style, and the one every prompting backend implements.

A classifier takes its parameters in the constructor; `fit(train, val)` learns (or only times itself) and sets
`fit_seconds_`, the up-front seconds the method cost, and `train_rows_`, how many labelled training rows it
learned from; `predict(records)` returns one prediction per record;
`describe()` says what ran (written next to the predictions).

A prediction is {"id", "true", "pred", "raw", "input_tokens", "output_tokens", "latency_s"} where `true` and
`pred` map each label field to a label, and `pred[field]` is None when the answer was not a valid label.
Methods may add keys (e.g. "usage", "cost_usd"); `evaluate` and `report` only rely on these.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Protocol


class Classifier(ABC):
    fields: list[str]
    fit_seconds_: float
    train_rows_: int

    @abstractmethod
    def fit(self, train: list[dict], val: list[dict]) -> Classifier:
        """Learn from train (and val, for model selection); set `fit_seconds_` and `train_rows_`."""

    @abstractmethod
    def predict(self, records: list[dict]) -> list[dict]:
        ...

    @abstractmethod
    def describe(self) -> dict:
        ...


class Backend(Protocol):
    """A language model that answers prompts: constrained to labels (`classify`) or freely (`generate`).
    Each returns, per text: {"raw", "input_tokens", "output_tokens", "latency_s"}, plus "pred" from classify."""

    def classify(self, system: str | None, texts: list[str], fields: list[str], labels: dict[str, list[str]],
                 user_prefixes: list[str] | None = None) -> list[dict]: ...

    def generate(self, system: str | None, texts: list[str], user_prefixes: list[str] | None = None,
                 max_new_tokens: int | None = None) -> list[dict]: ...

    def truncate(self, text: str, max_tokens: int | None, system: str | None) -> tuple[str, bool]:
        """The text cut to `max_tokens` of this model's tokens (None: what its context leaves after the prompt),
        and whether it was cut."""

    def describe(self) -> dict: ...


def plan_run(clf: Classifier, records: list[dict]) -> None:
    """Before a run's first request: a backend that pays per request (Claude) is shown every request the run will
    send (`records` predicted once in its planning mode, where nothing is sent), so one estimate covers the whole
    run. Other backends have no planning mode and skip this."""
    planning = getattr(getattr(clf, "backend", None), "planning", None)
    if planning is not None:
        with planning():
            clf.predict(records)


def prediction(
    record: dict, pred: dict, raw: str, latency_s: float, input_tokens=None, output_tokens=None, **extra
) -> dict:
    return {
        "id": record["id"],
        "true": record["labels"],
        "pred": pred,
        "raw": raw,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "latency_s": latency_s,
        **extra,
    }


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def batched(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
