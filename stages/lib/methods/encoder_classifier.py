"""The sentence encoder fine-tuned end to end with a classification head (method type `encoder_finetuned`): per
label field, AutoModelForSequenceClassification on the encoder's weights (a new linear head on the pooled output),
every weight trained with AdamW, seeded, on the training rows. Each row's confidence is the head's softmax
probability of its label."""
from __future__ import annotations

import random

import torch

from stages.lib import counting
from stages.lib.methods.base import Classifier, Timer, batched, prediction
from stages.lib.predictions import task_labels


class EncoderFinetuned(Classifier):
    def __init__(self, fields: list[str], folder: str, epochs: int, learning_rate: float, batch_size: int,
                 max_length: int, seed: int, info: dict | None = None):
        self.fields, self.folder, self.epochs, self.learning_rate = fields, folder, epochs, learning_rate
        self.batch_size, self.max_length, self.seed, self.info = batch_size, max_length, seed, info or {}

    def _encode(self, texts: list[str]) -> dict:
        return self.tokenizer_(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")

    def _lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer_(texts, truncation=True, max_length=self.max_length)["input_ids"]]

    def _train_field(self, train: list[dict], field: str):
        from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

        classes = sorted({r["labels"][field] for r in train})
        torch.manual_seed(self.seed)
        model = AutoModelForSequenceClassification.from_pretrained(self.folder, num_labels=len(classes),
                                                                   local_files_only=True)
        index = {c: i for i, c in enumerate(classes)}
        rows = [(r["text"], index[r["labels"][field]]) for r in train]
        steps = self.epochs * -(-len(rows) // self.batch_size)
        optim = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=0.01)
        schedule = get_linear_schedule_with_warmup(optim, max(1, steps // 10), steps)
        rng = random.Random(self.seed)
        model.train()
        for _ in range(self.epochs):
            rng.shuffle(rows)
            for batch in batched(rows, self.batch_size):
                inputs = self._encode([t for t, _ in batch])
                loss = model(**inputs, labels=torch.tensor([y for _, y in batch])).loss
                loss.backward()
                optim.step()
                schedule.step()
                optim.zero_grad()
        return model.eval(), classes

    def fit(self, train, val):
        from transformers import AutoTokenizer

        with Timer() as t:
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            self.models_ = {f: self._train_field(train, f) for f in self.fields}
        # counted: every weight trained (backward through every layer), each epoch, one model per field
        self.shape_ = counting.shape(next(iter(self.models_.values()))[0])
        lengths = self._lengths([r["text"] for r in train])
        self.fit_flops_ = len(self.models_) * counting.training_flops(self.shape_, lengths, self.epochs, None,
                                                                      causal=False)
        self.fit_seconds_, self.train_rows_ = t.seconds, len(train)
        return self

    def describe(self) -> dict:
        return {"model": "encoder+classification_head, fine-tuned", **self.info, "epochs": self.epochs,
                "learning_rate": self.learning_rate, "max_length": self.max_length}

    @torch.inference_mode()
    def predict(self, records):
        with Timer() as t:
            probs = {f: [] for f in self.fields}
            for batch in batched([r["text"] for r in records], 2 * self.batch_size):
                inputs = self._encode(batch)
                for f, (model, _) in self.models_.items():
                    probs[f].append(torch.softmax(model(**inputs).logits.float(), -1))
            probs = {f: torch.cat(p) if p else torch.empty(0) for f, p in probs.items()}
        per = t.seconds / max(len(records), 1)
        lengths = self._lengths([r["text"] for r in records])
        out = []
        for i, r in enumerate(records):
            pred, conf = {}, {}
            for f, (_, classes) in self.models_.items():
                j = int(probs[f][i].argmax())
                pred[f], conf[f] = classes[j], float(probs[f][i][j])
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per, confidence=conf,
                                  confidence_kind="softmax", flops=len(self.models_) * counting.forward_flops(
                                      self.shape_, lengths[i], causal=False)))
        return out


def build(params, task: str, name: str) -> EncoderFinetuned:
    """Method `name` (type encoder_finetuned) for `task`: the method registry's builder."""
    from stages.lib.encoders import folder

    cfg = params.method(name)
    return EncoderFinetuned(list(task_labels(task)), str(folder(cfg.encoder)), epochs=cfg.epochs,
                            learning_rate=cfg.learning_rate, batch_size=cfg.batch_size, max_length=cfg.max_length,
                            seed=cfg.seeds[0], info={"encoder": cfg.encoder,
                                                    "source": params.encoder_entry(cfg.encoder).source})
