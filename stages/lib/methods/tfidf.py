"""TF-IDF + linear SVM: the classical baseline every LLM method has to beat. One SVM per label field, over one
shared vectoriser (it depends on the texts only, not on the labels). An SVM gives margins, not probabilities: each
label's confidence comes from the same SVM calibrated on the training split by cross-validation (Platt scaling,
`CalibratedClassifierCV`); the label itself stays the SVM's."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score
from sklearn.svm import LinearSVC

from stages.lib import counting
from stages.lib.methods.base import Classifier, Timer, prediction
from stages.lib.predictions import task_labels

CALIBRATION_FOLDS = 3  # stratified folds of the training split for Platt scaling


class TfidfClassifier(Classifier):
    def __init__(self, fields: list[str], C: list[float], ngram_max: int, seed: int, search_rows: int | None = None):
        self.fields, self.C, self.ngram_max, self.seed = fields, list(C), ngram_max, seed
        self.search_rows = search_rows

    def fit(self, train, val):
        """Per field, pick C by validation accuracy (ties: the smaller C); the SVM fitted on train with it is kept.
        With more than `search_rows` training rows, the C grid is searched on a seeded subsample of that many and
        only the chosen C is fitted on all of them (LinearSVC's cost grows faster than its rows)."""
        with Timer() as t:
            self._fit(train, val)
        self.fit_seconds_, self.train_rows_ = t.seconds, len(train)
        return self

    @staticmethod
    def _solver_flops(model, X) -> float:
        """Counted work of one fitted SVM: a pass over the sparse rows per class and solver iteration."""
        return counting.linear_flops(X.nnz, len(model.classes_)) * int(np.max(model.n_iter_))

    def _fit(self, train, val):
        # Vectorised once: refitting the vectoriser per C and per field was most of the cost at 100k rows.
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, self.ngram_max), sublinear_tf=True, min_df=1)
        X = self.vectorizer_.fit_transform([r["text"] for r in train])
        Xv = self.vectorizer_.transform([r["text"] for r in val])
        search = None
        if self.search_rows and len(train) > self.search_rows:
            search = np.sort(np.random.default_rng(self.seed).choice(len(train), self.search_rows, replace=False))
        self.models_, self.chosen_C_, self.calibrated_ = {}, {}, {}
        self.fit_flops_ = 0.0  # counted: every SVM fitted (the C grid, the calibration folds); vectorising is not
        for f in self.fields:
            y, yv = np.array([r["labels"][f] for r in train]), [r["labels"][f] for r in val]
            if len(set(y)) < 2:  # nothing to learn: always the one class
                self.models_[f], self.chosen_C_[f] = str(y[0]), None
                continue
            Xs, ys = (X, y) if search is None else (X[search], y[search])
            fitted = {C: LinearSVC(C=C, random_state=self.seed).fit(Xs, ys) for C in self.C}
            scores = {C: accuracy_score(yv, m.predict(Xv)) for C, m in fitted.items()}
            best = max(self.C, key=lambda C: (scores[C], -C))
            model = fitted[best] if search is None else LinearSVC(C=best, random_state=self.seed).fit(X, y)
            self.models_[f], self.chosen_C_[f] = model, best
            self.calibrated_[f] = self._calibrated(X, y, best)
            self.fit_flops_ += sum(self._solver_flops(m, Xs) + counting.linear_flops(Xv.nnz, len(m.classes_))
                                   for m in fitted.values())
            self.fit_flops_ += self._solver_flops(model, X) if search is not None else 0.0
            for part in getattr(self.calibrated_[f], "calibrated_classifiers_", []):  # one SVM per fold
                self.fit_flops_ += self._solver_flops(part.estimator, X)

    def _calibrated(self, X, y, C: float):
        """The SVM at `C` Platt-scaled over stratified folds of the training rows (a class rarer than the folds is
        absent from some folds' fits, which scikit-learn allows for explicit splits); None where even that cannot be
        fitted (a fold with one class): that field then gives no confidence."""
        from sklearn.model_selection import StratifiedKFold

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            splits = list(StratifiedKFold(CALIBRATION_FOLDS, shuffle=True, random_state=self.seed).split(X, y))
            try:
                return CalibratedClassifierCV(LinearSVC(C=C, random_state=self.seed), method="sigmoid",
                                              cv=splits).fit(X, y)
            except ValueError:
                return None

    def describe(self) -> dict:
        return {"model": "tfidf+linear_svc", "ngram_max": self.ngram_max, "chosen_C": self.chosen_C_,
                "search_rows": self.search_rows}

    def predict(self, records):
        with Timer() as t:
            X = self.vectorizer_.transform([r["text"] for r in records])
            cols = {f: (m.predict(X) if not isinstance(m, str) else [m] * len(records))
                    for f, m in self.models_.items()}
            conf = {f: self._confidence(f, X, cols[f]) for f in self.fields}
        per = t.seconds / max(len(records), 1)
        classes = sum(len(m.classes_) for m in self.models_.values() if not isinstance(m, str))
        out = []
        for i, r in enumerate(records):
            pred = {f: str(cols[f][i]) for f in self.fields}
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per,
                                  flops=counting.linear_flops(X[i].nnz, classes),
                                  confidence={f: None if conf[f][i] is None else float(conf[f][i])
                                              for f in self.fields},
                                  confidence_kind="calibrated"))
        return out

    def _confidence(self, field: str, X, labels) -> np.ndarray | list[None]:
        """The calibrated probability of each row's SVM label (1 where the field has one class; None where it could
        not be calibrated)."""
        if field not in self.calibrated_:
            return np.ones(X.shape[0])
        cal = self.calibrated_[field]
        if cal is None:
            return [None] * X.shape[0]
        column = {c: j for j, c in enumerate(cal.classes_)}
        return cal.predict_proba(X)[np.arange(X.shape[0]), [column[y] for y in labels]]


def build(params, task: str, name: str) -> TfidfClassifier:
    """Method `name` (type tfidf) for `task`: the method registry's builder."""
    cfg = params.method(name)
    return TfidfClassifier(list(task_labels(task)), C=cfg.C, ngram_max=cfg.ngram_max, seed=params.seed,
                           search_rows=cfg.search_rows)
