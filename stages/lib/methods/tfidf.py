"""TF-IDF + linear SVM: the classical baseline every LLM method has to beat. One model per label field."""
from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from stages.lib.methods.base import Classifier, Timer, prediction


class TfidfClassifier(Classifier):
    def __init__(self, fields: list[str], C: list[float], ngram_max: int, seed: int):
        self.fields, self.C, self.ngram_max, self.seed = fields, list(C), ngram_max, seed

    def _pipeline(self, C: float):
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, self.ngram_max), sublinear_tf=True, min_df=1),
            LinearSVC(C=C, random_state=self.seed),
        )

    def fit(self, train, val):
        """Per field, pick C by validation accuracy (ties: the smaller C), then refit on train."""
        with Timer() as t:
            self._fit(train, val)
        self.fit_seconds_, self.train_rows_ = t.seconds, len(train)
        return self

    def _fit(self, train, val):
        X, Xv = [r["text"] for r in train], [r["text"] for r in val]
        self.models_, self.chosen_C_ = {}, {}
        for f in self.fields:
            y, yv = [r["labels"][f] for r in train], [r["labels"][f] for r in val]
            if len(set(y)) < 2:  # nothing to learn: always the one class
                self.models_[f], self.chosen_C_[f] = y[0], None
                continue
            scores = {C: accuracy_score(yv, self._pipeline(C).fit(X, y).predict(Xv)) for C in self.C}
            best = max(self.C, key=lambda C: (scores[C], -C))
            self.models_[f], self.chosen_C_[f] = self._pipeline(best).fit(X, y), best

    def describe(self) -> dict:
        return {"model": "tfidf+linear_svc", "ngram_max": self.ngram_max, "chosen_C": self.chosen_C_}

    def predict(self, records):
        X = [r["text"] for r in records]
        with Timer() as t:
            cols = {f: (m.predict(X) if not isinstance(m, str) else [m] * len(X)) for f, m in self.models_.items()}
        per = t.seconds / max(len(records), 1)
        out = []
        for i, r in enumerate(records):
            pred = {f: str(cols[f][i]) for f in self.fields}
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per))
        return out
