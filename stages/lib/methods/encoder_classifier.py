"""The sentence encoder fine-tuned end to end with a classification head (method type `encoder_finetuned`):
AutoModelForSequenceClassification on the encoder's weights (a new linear head on the pooled output), every weight
trained with AdamW, seeded, on the training rows. One model serves all of a task's label fields: its head has a
block of outputs per field, and the loss is the sum of each field's cross-entropy over its block (a shared body, a
head per field; with one field, exactly the library's own loss). Each row's confidence is its field's softmax
probability of its label.

As the LLM recipes do (recipe.min_steps), the epochs are raised until training takes at least `min_steps`
optimizer steps (80 rows at batch 16 are 5 steps a pass), and the epoch kept is the one with the lowest validation
loss (scored after each epoch; the validation split only, never test)."""
from __future__ import annotations

import random

import torch

from stages.lib import counting
from stages.lib.methods.base import Classifier, Timer, batched, prediction
from stages.lib.predictions import task_labels


class EncoderFinetuned(Classifier):
    def __init__(self, fields: list[str], folder: str, epochs: int, learning_rate: float, batch_size: int,
                 max_length: int, seed: int, min_steps: int = 0, info: dict | None = None):
        self.fields, self.folder, self.epochs, self.learning_rate = fields, folder, epochs, learning_rate
        self.batch_size, self.max_length, self.seed, self.info = batch_size, max_length, seed, info or {}
        self.min_steps = min_steps

    def epochs_for(self, n_rows: int) -> int:
        """`epochs`, raised to the whole number of passes over `n_rows` that reaches `min_steps` steps."""
        per_epoch = -(-n_rows // self.batch_size)
        return max(self.epochs, -(-self.min_steps // per_epoch) if per_epoch else 0)

    def _encode(self, texts: list[str]) -> dict:
        return self.tokenizer_(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")

    def _lengths(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer_(texts, truncation=True, max_length=self.max_length)["input_ids"]]

    def _loss(self, model, batch: list[tuple[str, list[int]]], sizes: list[int]) -> torch.Tensor:
        """The sum over fields of each field's cross-entropy; a label index of -100 (a validation row's class
        that no training row has) is ignored."""
        blocks = model(**self._encode([t for t, _ in batch])).logits.float().split(sizes, dim=-1)
        targets = torch.tensor([y for _, y in batch]).T
        return sum(torch.nn.functional.cross_entropy(b, y, ignore_index=-100)
                   for b, y in zip(blocks, targets, strict=True) if (y != -100).any())

    @torch.inference_mode()
    def _val_loss(self, model, rows: list[tuple[str, list[int]]], sizes: list[int]) -> float:
        model.eval()
        total = sum(float(self._loss(model, b, sizes)) * len(b) for b in batched(rows, 2 * self.batch_size))
        model.train()
        return total / len(rows)

    def _train(self, train: list[dict], val: list[dict]):
        import copy

        from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

        self.classes_ = {f: sorted({r["labels"][f] for r in train}) for f in self.fields}
        sizes = [len(c) for c in self.classes_.values()]
        torch.manual_seed(self.seed)
        model = AutoModelForSequenceClassification.from_pretrained(self.folder, num_labels=sum(sizes),
                                                                   local_files_only=True)
        index = {f: {c: i for i, c in enumerate(cs)} for f, cs in self.classes_.items()}
        rows = [(r["text"], [index[f][r["labels"][f]] for f in self.fields]) for r in train]
        held = [(r["text"], [index[f].get(r["labels"][f], -100) for f in self.fields]) for r in val]
        epochs = self.epochs_for(len(rows))
        steps = epochs * -(-len(rows) // self.batch_size)
        optim = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=0.01)
        schedule = get_linear_schedule_with_warmup(optim, max(1, steps // 10), steps)
        rng = random.Random(self.seed)
        model.train()
        self.val_losses_, best = [], None
        for _ in range(epochs):
            rng.shuffle(rows)
            for batch in batched(rows, self.batch_size):
                self._loss(model, batch, sizes).backward()
                optim.step()
                schedule.step()
                optim.zero_grad()
            if held and epochs > 1:  # the epoch to keep, chosen on validation
                self.val_losses_.append(self._val_loss(model, held, sizes))
                if self.val_losses_[-1] <= min(self.val_losses_):
                    best = copy.deepcopy(model.state_dict())
        if best is not None:
            model.load_state_dict(best)
        self.epochs_run_ = epochs
        self.best_epoch_ = (self.val_losses_.index(min(self.val_losses_)) + 1) if self.val_losses_ else epochs
        return model.eval()

    def fit(self, train, val):
        from transformers import AutoTokenizer

        with Timer() as t:
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
            self.model_ = self._train(train, val)
        # counted: every weight trained (backward through every layer), each epoch run, one model for every field,
        # and each validation pass that chose the epoch
        self.shape_ = counting.shape(self.model_)
        lengths = self._lengths([r["text"] for r in train])
        self.fit_flops_ = counting.training_flops(self.shape_, lengths, self.epochs_run_, None,
                                                  self._lengths([r["text"] for r in val]), len(self.val_losses_),
                                                  causal=False)
        self.fit_seconds_, self.train_rows_ = t.seconds, len(train)
        return self

    def describe(self) -> dict:
        return {"model": "encoder+classification_head, fine-tuned", **self.info, "epochs": self.epochs_run_,
                "best_epoch": self.best_epoch_, "val_losses": self.val_losses_, "min_steps": self.min_steps,
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
                            seed=cfg.seeds[0], min_steps=cfg.min_steps, info={"encoder": cfg.encoder,
                                                    "source": params.encoder_entry(cfg.encoder).source})
