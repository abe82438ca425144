"""The one contract every method implements, scikit-learn style: parameters in the constructor,
`fit(train, val)` learns (or does nothing), `predict(records)` returns one prediction dict per record.

A prediction is {"id", "true", "pred", "raw", "input_tokens", "output_tokens", "latency_s"} where `true` and
`pred` map each label field to a label, and `pred[field]` is None when the answer was not a valid label.
Methods may add keys (e.g. "error", "usage"); `evaluate` and `report` only rely on these.
"""
from __future__ import annotations

import time
from typing import Iterable


class Classifier:
    fields: list[str]

    def fit(self, train: list[dict], val: list[dict]) -> "Classifier":
        return self

    def predict(self, records: list[dict]) -> list[dict]:
        raise NotImplementedError


def prediction(record: dict, pred: dict, raw: str, latency_s: float, input_tokens=None, output_tokens=None, **extra) -> dict:
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
