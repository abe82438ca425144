"""SetFit (method type `setfit`; Tunstall et al. 2022, the `setfit` library): the sentence encoder's body tuned
contrastively on pairs of training rows (same class: similar; different: dissimilar), then a logistic-regression
head per label field fitted on the tuned embeddings (SetFit's default head). One body serves all of a task's fields:
with several, a pair is similar when the rows share a label in any field (SetFit's multi-label pairing), so a
three-field task tunes and embeds once, not three times. Seeded; the pairs are capped by `max_steps` x
`batch_size`. Each row's confidence is its field's head's probability of its label."""
from __future__ import annotations

import tempfile

import numpy as np

from stages.lib import encoders
from stages.lib.methods.base import Classifier, Timer, prediction
from stages.lib.predictions import task_labels


class SetFitClassifier(Classifier):
    def __init__(self, fields: list[str], folder: str, max_steps: int, batch_size: int, body_learning_rate: float,
                 max_length: int, seed: int, info: dict | None = None):
        self.fields, self.folder, self.max_steps, self.batch_size = fields, folder, max_steps, batch_size
        self.body_learning_rate, self.max_length, self.seed = body_learning_rate, max_length, seed
        self.info = info or {}

    def _targets(self, train: list[dict], learned: list[str]) -> list:
        """SetFit's labels: the field's label with one field; with several, each row's labels one-hot per field
        and concatenated (a multi-label target: rows sharing any field's label make a similar pair)."""
        if len(learned) == 1:
            return [r["labels"][learned[0]] for r in train]
        classes = [sorted({r["labels"][f] for r in train}) for f in learned]
        return [[int(r["labels"][f] == c) for f, cs in zip(learned, classes, strict=True) for c in cs] for r in train]

    def _tune_body(self, train: list[dict], learned: list[str]):
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments

        model = SetFitModel.from_pretrained(self.folder, local_files_only=True,
                                            multi_target_strategy="one-vs-rest" if len(learned) > 1 else None)
        data = Dataset.from_dict({"text": [r["text"] for r in train], "label": self._targets(train, learned)})
        with tempfile.TemporaryDirectory() as tmp:  # nothing is saved: the model lives in this process
            args = TrainingArguments(output_dir=tmp, batch_size=self.batch_size, num_epochs=1,
                                     max_steps=self.max_steps, body_learning_rate=self.body_learning_rate,
                                     max_length=self.max_length, seed=self.seed, show_progress_bar=False,
                                     report_to="none", save_strategy="no")
            trainer = Trainer(model=model, args=args, train_dataset=data)
            trainer.train_embeddings(*trainer.dataset_to_parameters(data), args=args)  # the heads are ours, below
        return model

    def fit(self, train, val):
        from sklearn.linear_model import LogisticRegression

        from stages.lib import counting

        with Timer() as t:
            # a field with one class in training has nothing to learn: always that class
            self.models_ = {f: next(iter(ys)) for f in self.fields
                            if len(ys := {r["labels"][f] for r in train}) < 2}
            learned = [f for f in self.fields if f not in self.models_]
            work = 0.0
            if learned:
                setfit_model = self._tune_body(train, learned)
                self.body_ = setfit_model.model_body
                self.shape_ = counting.shape(self.body_[0].auto_model)
                X, forward = self._embed([r["text"] for r in train])
                for f in learned:  # SetFit's default head, per field
                    self.models_[f] = LogisticRegression().fit(X, [r["labels"][f] for r in train])
                # counted: max_steps x batch_size pairs (two sentences each, of the rows' mean length) through the
                # body, forward and backward, then the heads' embedding of every row
                lengths = self.body_.tokenize([r["text"] for r in train])["attention_mask"].sum(1).tolist()
                mean = round(sum(lengths) / len(lengths))
                pairs = self.max_steps * self.batch_size * 2
                work = counting.training_flops(self.shape_, [mean] * pairs, 1, None, causal=False) + sum(forward)
        self.fit_seconds_, self.train_rows_, self.fit_flops_ = t.seconds, len(train), work
        return self

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, list[float]]:
        return encoders.embed(self.body_, texts, normalize=False)  # as SetFit embeds for its head

    def describe(self) -> dict:
        return {"model": "setfit", **self.info, "max_steps": self.max_steps, "batch_size": self.batch_size,
                "shared_body_fields": [f for f, m in self.models_.items() if not isinstance(m, str)]}

    def predict(self, records):
        learned = {f: m for f, m in self.models_.items() if not isinstance(m, str)}
        with Timer() as t:
            X, flops = self._embed([r["text"] for r in records]) if learned else (None, [0.0] * len(records))
            probs = {f: m.predict_proba(X) for f, m in learned.items()}
        per = t.seconds / max(len(records), 1)
        out = []
        for i, r in enumerate(records):
            pred, conf = {}, {}
            for f in self.fields:
                m = self.models_[f]
                if isinstance(m, str):
                    pred[f], conf[f] = m, 1.0
                    continue
                j = int(np.argmax(probs[f][i]))
                pred[f], conf[f] = str(m.classes_[j]), float(probs[f][i][j])
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per, confidence=conf,
                                  confidence_kind="calibrated", flops=flops[i]))
        return out


def build(params, task: str, name: str) -> SetFitClassifier:
    """Method `name` (type setfit) for `task`: the method registry's builder."""
    cfg = params.method(name)
    return SetFitClassifier(list(task_labels(task)), str(encoders.folder(cfg.encoder)), max_steps=cfg.max_steps,
                            batch_size=cfg.batch_size, body_learning_rate=cfg.body_learning_rate,
                            max_length=cfg.max_length, seed=cfg.seeds[0],
                            info={"encoder": cfg.encoder, "source": params.encoder_entry(cfg.encoder).source})
