"""The cascade at run time (`classify --method cascade`): the cheap method answers every row, and only the rows
whose confidence is under the threshold the pipeline chose on validation (metrics/cascade/<task>.json) are sent to
the strong method. Each row keeps the answering part's confidence and says which part answered."""
from __future__ import annotations

from stages.lib import paths
from stages.lib.calibration import row_confidence
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.base import Classifier


class CascadeClassifier(Classifier):
    def __init__(self, cheap: Classifier | None, strong: Classifier | None, threshold: float | None,
                 names: dict[str, str]):
        """`cheap` None: the strong method alone (it dominated on validation); `strong` None: the cheap one alone;
        `threshold` None with both: always escalate."""
        self.cheap, self.strong, self.threshold, self.names = cheap, strong, threshold, names
        self.fields = (cheap or strong).fields

    def fit(self, train, val):
        for part in (self.cheap, self.strong):
            if part is not None:
                part.fit(train, val)
        parts = [p for p in (self.cheap, self.strong) if p is not None]
        self.fit_seconds_ = sum(p.fit_seconds_ for p in parts)
        self.train_rows_ = max(p.train_rows_ for p in parts)
        return self

    def describe(self) -> dict:
        return {"cascade": {"threshold": self.threshold, **self.names},
                **{k: p.describe() for k, p in (("cheap_part", self.cheap), ("strong_part", self.strong)) if p}}

    def predict(self, records):
        if self.cheap is None:
            return [{**p, "answered_by": self.names["strong"]} for p in self.strong.predict(records)]
        out = [{**p, "answered_by": self.names["cheap"]} for p in self.cheap.predict(records)]
        if self.strong is None:
            return out
        unsure = [i for i, p in enumerate(out) if self.threshold is None
                  or (row_confidence(p, self.fields) or 0.0) < self.threshold]
        if unsure:
            for i, p in zip(unsure, self.strong.predict([records[i] for i in unsure]), strict=True):
                out[i] = {**p, "answered_by": self.names["strong"]}
        return out


def build(params, task: str, name: str) -> CascadeClassifier:
    """The cascade `name` of `task` from its two parts and the threshold its stage chose on validation (the part
    it reduces to alone, where one dominated)."""
    from stages.lib.methods.registry import build as build_method

    if not paths.cascade(task).exists():
        raise PipelineError(f"{paths.cascade(task)}: missing; run dvc repro scoring/dvc.yaml:cascade@{task} first")
    chosen = read_json(paths.cascade(task))
    names = {"cheap": chosen["cheap"], "strong": chosen["strong"]}
    cheap = None if chosen["reduces_to"] == chosen["strong"] else build_method(params, task, names["cheap"])
    strong = None if chosen["reduces_to"] == chosen["cheap"] else build_method(params, task, names["strong"])
    return CascadeClassifier(cheap, strong, chosen["threshold"], names)
