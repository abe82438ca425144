"""Frozen sentence embeddings + logistic regression (method type `embedding_lr`): each text embedded once by the
encoder (mean-pooled, normalised, as the encoder was trained), then one multinomial logistic regression per label
field on the training rows, its C chosen by validation accuracy (ties: the smaller C). Each row's confidence is the
regression's probability of its label (`calibrated`: a probabilistic model fitted by likelihood; the evaluate stage
recalibrates every method's on validation alike)."""
from __future__ import annotations

import numpy as np

from stages.lib import counting, encoders
from stages.lib.methods.base import Classifier, Timer, prediction
from stages.lib.predictions import task_labels


class EmbeddingLR(Classifier):
    def __init__(self, fields: list[str], encoder, C: list[float], seed: int, batch_size: int = 64,
                 info: dict | None = None):
        self.fields, self.encoder, self.C, self.seed, self.batch_size = fields, encoder, list(C), seed, batch_size
        self.info = info or {}

    def embed(self, texts: list[str]) -> tuple[np.ndarray, list[float]]:
        return encoders.embed(self.encoder, texts, self.batch_size)

    def fit(self, train, val):
        from sklearn.linear_model import LogisticRegression

        with Timer() as t:
            (X, w), (Xv, wv) = self.embed([r["text"] for r in train]), self.embed([r["text"] for r in val])
            work = sum(w) + sum(wv)
            self.models_, self.chosen_C_ = {}, {}
            for f in self.fields:
                y, yv = np.array([r["labels"][f] for r in train]), np.array([r["labels"][f] for r in val])
                if len(set(y)) < 2:  # nothing to learn: always the one class
                    self.models_[f], self.chosen_C_[f] = str(y[0]), None
                    continue
                fitted = {C: LogisticRegression(C=C, max_iter=2000, random_state=self.seed).fit(X, y) for C in self.C}
                # counted: a pass over the dense rows per class and solver iteration, for every C tried
                work += sum(counting.linear_flops(X.size, len(m.classes_)) * int(np.max(m.n_iter_))
                            for m in fitted.values())
                scores = {C: float((m.predict(Xv) == yv).mean()) if len(val) else 0.0 for C, m in fitted.items()}
                best = max(self.C, key=lambda C: (scores[C], -C))
                self.models_[f], self.chosen_C_[f] = fitted[best], best
        self.fit_seconds_, self.train_rows_, self.fit_flops_ = t.seconds, len(train), work
        return self

    def describe(self) -> dict:
        return {"model": "embeddings+logistic_regression", **self.info, "chosen_C": self.chosen_C_}

    def predict(self, records):
        with Timer() as t:
            X, flops = self.embed([r["text"] for r in records])
            probs = {f: (m.predict_proba(X) if not isinstance(m, str) else None) for f, m in self.models_.items()}
        per = t.seconds / max(len(records), 1)
        head = sum(counting.linear_flops(X.shape[1], len(m.classes_)) for m in self.models_.values()
                   if not isinstance(m, str))
        out = []
        for i, r in enumerate(records):
            pred, conf = {}, {}
            for f in self.fields:
                m = self.models_[f]
                if isinstance(m, str):
                    pred[f], conf[f] = m, 1.0
                else:
                    j = int(np.argmax(probs[f][i]))
                    pred[f], conf[f] = str(m.classes_[j]), float(probs[f][i][j])
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per, confidence=conf,
                                  confidence_kind="calibrated", flops=flops[i] + head))
        return out


def build(params, task: str, name: str) -> EmbeddingLR:
    """Method `name` (type embedding_lr) for `task`: the method registry's builder."""
    cfg = params.method(name)
    return EmbeddingLR(list(task_labels(task)), encoders.load(encoders.folder(cfg.encoder)), C=cfg.C, seed=params.seed,
                       batch_size=cfg.batch_size,
                       info={"encoder": cfg.encoder, "source": params.encoder_entry(cfg.encoder).source})
