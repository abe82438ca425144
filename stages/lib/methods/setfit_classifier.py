"""SetFit (method type `setfit`; Tunstall et al. 2022, the `setfit` library): per label field, the sentence
encoder's body tuned contrastively on pairs of training rows (same class: similar; different: dissimilar), then a
logistic-regression head fitted on the tuned embeddings. Seeded; the pairs are capped by `max_steps` x
`batch_size`. Each row's confidence is the head's probability of its label."""
from __future__ import annotations

import tempfile

import numpy as np

from stages.lib import counting
from stages.lib.methods.base import Classifier, Timer, prediction
from stages.lib.predictions import task_labels


class SetFitClassifier(Classifier):
    def __init__(self, fields: list[str], folder: str, max_steps: int, batch_size: int, body_learning_rate: float,
                 max_length: int, seed: int, info: dict | None = None):
        self.fields, self.folder, self.max_steps, self.batch_size = fields, folder, max_steps, batch_size
        self.body_learning_rate, self.max_length, self.seed = body_learning_rate, max_length, seed
        self.info = info or {}

    def _train_field(self, train: list[dict], field: str):
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments

        model = SetFitModel.from_pretrained(self.folder, local_files_only=True)
        labels = [r["labels"][field] for r in train]
        if len(set(labels)) < 2:
            return labels[0]
        data = Dataset.from_dict({"text": [r["text"] for r in train], "label": labels})
        with tempfile.TemporaryDirectory() as tmp:  # nothing is saved: the model lives in this process
            args = TrainingArguments(output_dir=tmp, batch_size=self.batch_size, num_epochs=1,
                                     max_steps=self.max_steps, body_learning_rate=self.body_learning_rate,
                                     max_length=self.max_length, seed=self.seed, show_progress_bar=False,
                                     report_to="none", save_strategy="no")
            Trainer(model=model, args=args, train_dataset=data).train()
        return model

    def fit(self, train, val):
        with Timer() as t:
            self.models_ = {f: self._train_field(train, f) for f in self.fields}
        self.fit_seconds_, self.train_rows_ = t.seconds, len(train)
        # counted: per field, max_steps x batch_size pairs (two sentences each, of the rows' mean length) through
        # the body, forward and backward, then the head's embedding of every row
        trained = [m for m in self.models_.values() if not isinstance(m, str)]
        lengths = self._lengths([r["text"] for r in train]) if trained else []
        mean = sum(lengths) / max(len(lengths), 1)
        pairs = self.max_steps * self.batch_size * 2
        self.fit_flops_ = len(trained) * (
            counting.training_flops(self.shape_, [round(mean)] * pairs, 1, None, causal=False)
            + sum(counting.forward_flops(self.shape_, n, causal=False) for n in lengths)) if trained else 0.0
        return self

    def _lengths(self, texts: list[str]) -> list[int]:
        """Each text's tokens as the tuned body reads them (its own truncation)."""
        body = next(m for m in self.models_.values() if not isinstance(m, str)).model_body
        self.shape_ = counting.shape(body[0].auto_model)
        return body.tokenize(texts)["attention_mask"].sum(1).tolist() if texts else []

    def describe(self) -> dict:
        return {"model": "setfit", **self.info, "max_steps": self.max_steps, "batch_size": self.batch_size}

    def predict(self, records):
        texts = [r["text"] for r in records]
        with Timer() as t:
            probs = {f: None if isinstance(m, str) else np.asarray(m.predict_proba(texts, as_numpy=True))
                     for f, m in self.models_.items()}
        per = t.seconds / max(len(records), 1)
        trained = sum(not isinstance(m, str) for m in self.models_.values())
        lengths = self._lengths(texts) if trained else [0] * len(records)
        out = []
        for i, r in enumerate(records):
            pred, conf = {}, {}
            for f, m in self.models_.items():
                if isinstance(m, str):
                    pred[f], conf[f] = m, 1.0
                    continue
                j = int(np.argmax(probs[f][i]))
                pred[f], conf[f] = str(m.model_head.classes_[j]), float(probs[f][i][j])
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per, confidence=conf,
                                  confidence_kind="calibrated",
                                  flops=trained * counting.forward_flops(self.shape_, lengths[i], causal=False)
                                  if trained else 0.0))
        return out


def build(params, task: str, name: str) -> SetFitClassifier:
    """Method `name` (type setfit) for `task`: the method registry's builder."""
    from stages.lib.encoders import folder

    cfg = params.method(name)
    return SetFitClassifier(list(task_labels(task)), str(folder(cfg.encoder)), max_steps=cfg.max_steps,
                            batch_size=cfg.batch_size, body_learning_rate=cfg.body_learning_rate,
                            max_length=cfg.max_length, seed=params.seed,
                            info={"encoder": cfg.encoder, "source": params.encoder_entry(cfg.encoder).source})
