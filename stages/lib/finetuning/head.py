"""Fine-tuning with a classification head: `AutoModelForSequenceClassification` on the base model, pooled at the
last real token, with LoRA on the trunk and the head trained in full (`modules_to_save`).

Several label fields share one trunk: the head has one block of outputs per field (one linear layer whose rows
are the fields' heads side by side, which is a linear head per field), each field gets its own softmax, and the
loss is the sum of the fields' cross-entropies, each optionally weighted by `class_weight: balanced`.
The adapter directory also holds the label layout the outputs follow (`head_layout`).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import Trainer

from stages.lib.config import FinetuneHead
from stages.lib.finetuning.model import autocast, device, load_base, lora_config, precision
from stages.lib.finetuning.search import searched
from stages.lib.finetuning.training import arguments, callbacks, checkpoint_dir, counted_flops, fit
from stages.lib.head_layout import FILE, field_slices, layout


def class_weights(train: list[dict], head: dict, mode: str | None) -> dict[str, torch.Tensor] | None:
    """`balanced`: scikit-learn's n / (k x count) per class of each field, counted on the training rows; a class
    absent from them gets weight 1 (it contributes no loss there anyway)."""
    if mode is None:
        return None
    out = {}
    for f in head["fields"]:
        counts = torch.zeros(len(head["labels"][f]))
        for i in label_indices(train, head, f):
            if i >= 0:
                counts[i] += 1
        present = counts > 0
        w = torch.ones_like(counts)
        w[present] = counts.sum() / (present.sum() * counts[present])
        out[f] = w
    return out


def label_indices(rows: list[dict], head: dict, field: str) -> list[int]:
    """Each row's label index in `field`'s block, or -100 (ignored by the loss) for a label the task's label space
    lacks: a validation row may hold a class that no training row has."""
    index = {label: i for i, label in enumerate(head["labels"][field])}
    return [index.get(r["labels"][field], -100) for r in rows]


def head_loss(logits: torch.Tensor, labels: torch.Tensor, head: dict, weights: dict | None) -> torch.Tensor:
    """The sum over fields of each field's mean cross-entropy; `labels` is (batch, fields) of label indices, -100
    where a row's label is outside the label space (a field with no such row in the batch adds nothing)."""
    loss = logits.new_zeros((), dtype=torch.float32)
    for i, (f, part) in enumerate(field_slices(head).items()):
        known = labels[:, i] != -100
        if known.any():
            w = weights[f].to(logits.device) if weights else None
            loss = loss + torch.nn.functional.cross_entropy(logits[known][:, part].float(), labels[known, i], weight=w)
    return loss


class HeadTrainer(Trainer):
    """Trainer with the per-field loss; `head` and `weights` as `layout` and `class_weights` give them."""

    def __init__(self, *args, head: dict, weights: dict | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.head, self.weights = head, weights

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]  # (batch, fields); the model's own loss is not used
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        # validation loss unweighted: candidates with and without class weights compare on it (search.py)
        loss = head_loss(outputs.logits, labels, self.head, self.weights if model.training else None)
        return (loss, outputs) if return_outputs else loss


def load_for_training(cfg: FinetuneHead, base: str, head: dict):
    """(model, tokenizer): the base with a fresh head of `num_labels` outputs; pad = the tokenizer's pad (or end)
    token, so the last real token is the one pooled."""
    from transformers import AutoModelForSequenceClassification

    dev = device(cfg)
    model, tokenizer = load_base(base, dev, cfg, AutoModelForSequenceClassification, skip_modules=["score"],
                                 num_labels=head["num_labels"])
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def encode(tokenizer, rows: list[dict], head: dict, max_length: int) -> list[dict]:
    """The text alone (no template), cut to `max_length` tokens as scoring cuts it, and its label indices
    (`label_indices`)."""
    targets = list(zip(*(label_indices(rows, head, f) for f in head["fields"]), strict=True))
    out = []
    for r, target in zip(rows, targets, strict=True):
        ids = tokenizer.encode(r["text"], add_special_tokens=False)[:max_length]
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(target)})
    return out


def build_trainer(cfg: FinetuneHead, train: list[dict], val: list[dict], labels: dict[str, list[str]], base: str,
                  output_dir: str, seed: int, live_dir: str | None = None) -> HeadTrainer:
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorWithPadding, TrainingArguments, set_seed

    set_seed(seed)  # the head and the LoRA weights are initialised here, before Trainer would seed
    head = layout(labels)
    model, tokenizer = load_for_training(cfg, base, head)
    model = get_peft_model(model, lora_config(cfg, model.config.num_hidden_layers, task_type="SEQ_CLS",
                                              modules_to_save=["score"]))
    args = arguments(cfg, device(cfg), output_dir, seed, TrainingArguments, label_names=["labels"])
    return HeadTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(encode(tokenizer, train, head, cfg.max_length)),
        eval_dataset=Dataset.from_list(encode(tokenizer, val, head, cfg.max_length)),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        callbacks=callbacks(cfg, live_dir),
        head=head,
        weights=class_weights(train, head, cfg.class_weight),
    )


def train_once(cfg: FinetuneHead, train_rows: list[dict], val_rows: list[dict], labels: dict[str, list[str]],
               base: str, adapter_out: Path, checkpoints_root: Path, seed: int, live_dir: str | None = None) -> dict:
    """Fine-tune the head and the trunk's LoRA, resuming from a checkpoint of the same recipe, data, label layout
    and base model. Saves the best adapter (with the head and `head.json`) to `adapter_out`; returns the metrics."""
    checkpoints = checkpoint_dir(cfg, train_rows, val_rows, base, checkpoints_root, seed, extra=labels)
    resume = any(checkpoints.glob("checkpoint-*"))
    print(f"checkpoints: {checkpoints}" + (" (resuming)" if resume else ""))
    trainer = build_trainer(cfg, train_rows, val_rows, labels, base, str(checkpoints), seed, live_dir)
    n_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    metrics = fit(trainer, cfg, resume, adapter_out)
    Path(adapter_out, FILE).write_text(json.dumps(trainer.head, ensure_ascii=False, indent=1))
    seconds, epochs, tokenizer = metrics["train_seconds"], metrics["epochs"], trainer.processing_class
    return {
        **metrics,
        "train_samples": len(train_rows),
        "truncated_rows": sum(len(tokenizer.encode(r["text"], add_special_tokens=False)) > cfg.max_length
                              for r in train_rows),
        "max_input_tokens": cfg.max_length,  # scoring cuts alike
        "train_tokens": n_tokens,
        "train_flops": counted_flops(trainer, cfg, metrics),
        "train_samples_per_s": len(train_rows) * epochs / seconds if seconds else None,
        "train_tokens_per_s": n_tokens * epochs / seconds if seconds else None,
        "device": device(cfg),
        "base_precision": precision(cfg),
        "autocast": autocast(cfg, device(cfg)),
        **({"compute_dtype": cfg.compute_dtype[device(cfg)]} if cfg.quantize_4bit else {}),
        "class_weight": cfg.class_weight,
    }


train = searched(train_once)  # what the stages and the method registry call
