"""The sentence encoder fine-tuned end to end with a classification head (method type `encoder_finetuned`):
AutoModelForSequenceClassification on the encoder's weights (a new linear head on the pooled output), every weight
trained with AdamW, seeded, on the training rows. One model serves all of a task's label fields: its head has a
block of outputs per field, and the loss is the sum of each field's cross-entropy over its block (a shared body, a
head per field; with one field, exactly the library's own loss). Each row's confidence is its field's softmax
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

    def _train(self, train: list[dict]):
        from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

        self.classes_ = {f: sorted({r["labels"][f] for r in train}) for f in self.fields}
        sizes = [len(c) for c in self.classes_.values()]
        torch.manual_seed(self.seed)
        model = AutoModelForSequenceClassification.from_pretrained(self.folder, num_labels=sum(sizes),
                                                                   local_files_only=True)
        index = {f: {c: i for i, c in enumerate(cs)} for f, cs in self.classes_.items()}
        rows = [(r["text"], [index[f][r["labels"][f]] for f in self.fields]) for r in train]
        steps = self.epochs * -(-len(rows) // self.batch_size)
        optim = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=0.01)
        schedule = get_linear_schedule_with_warmup(optim, max(1, steps // 10), steps)
        rng = random.Random(self.seed)
        model.train()
        for _ in range(self.epochs):
            rng.shuffle(rows)
            for batch in batched(rows, self.batch_size):
                blocks = model(**self._encode([t for t, _ in batch])).logits.split(sizes, dim=-1)
                targets = torch.tensor([y for _, y in batch]).T
                loss = sum(torch.nn.functional.cross_entropy(b, y) for b, y in zip(blocks, targets, strict=True))
                loss.backward()
                optim.step()
                schedule.step()
                optim.zero_grad()
        return model.eval()

    def fit(self, train, val):
        from transformers import AutoTokenizer

        with Timer() as t:
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            self.model_ = self._train(train)
        # counted: every weight trained (backward through every layer), each epoch, one model for every field
        self.shape_ = counting.shape(self.model_)
        lengths = self._lengths([r["text"] for r in train])
        self.fit_flops_ = counting.training_flops(self.shape_, lengths, self.epochs, None, causal=False)
        self.fit_seconds_, self.train_rows_ = t.seconds, len(train)
        return self

    def describe(self) -> dict:
        return {"model": "encoder+classification_head, fine-tuned", **self.info, "epochs": self.epochs,
                "learning_rate": self.learning_rate, "max_length": self.max_length}

    @torch.inference_mode()
    def predict(self, records):
        sizes = [len(c) for c in self.classes_.values()]
        with Timer() as t:
            probs = {f: [] for f in self.fields}
            for batch in batched([r["text"] for r in records], 2 * self.batch_size):
                blocks = self.model_(**self._encode(batch)).logits.float().split(sizes, dim=-1)
                for f, b in zip(self.fields, blocks, strict=True):
                    probs[f].append(torch.softmax(b, -1))
            probs = {f: torch.cat(p) if p else torch.empty(0) for f, p in probs.items()}
        per = t.seconds / max(len(records), 1)
        lengths = self._lengths([r["text"] for r in records])
        out = []
        for i, r in enumerate(records):
            pred, conf = {}, {}
            for f, classes in self.classes_.items():
                j = int(probs[f][i].argmax())
                pred[f], conf[f] = classes[j], float(probs[f][i][j])
            out.append(prediction(r, pred, raw=" | ".join(pred.values()), latency_s=per, confidence=conf,
                                  confidence_kind="softmax",
                                  flops=counting.forward_flops(self.shape_, lengths[i], causal=False)))
        return out

def build(params, task: str, name: str) -> EncoderFinetuned:
    """Method `name` (type encoder_finetuned) for `task`: the method registry's builder."""
    from stages.lib.encoders import folder

    cfg = params.method(name)
    return EncoderFinetuned(list(task_labels(task)), str(folder(cfg.encoder)), epochs=cfg.epochs,
                            learning_rate=cfg.learning_rate, batch_size=cfg.batch_size, max_length=cfg.max_length,
                            seed=cfg.seeds[0], info={"encoder": cfg.encoder,
                                                    "source": params.encoder_entry(cfg.encoder).source})
