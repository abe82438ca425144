"""The base model with a trained classification head (method `finetuned_head`) as a classifier: one forward pass
per text, no decoding. Each field's label is the argmax of its own softmax, and that probability is recorded as
the prediction's `confidence[field]` (exact: the head's distribution over the field's labels)."""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import torch

from stages.lib import counting, paths
from stages.lib.adapters import load_adapter
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.head_layout import FILE, field_slices
from stages.lib.methods.base import Classifier, batched, prediction
from stages.lib.quantization import quantization_config


def load(base: str, adapter: str | Path, compute_dtype: str | None = None):
    """(model, tokenizer, head layout): the base as a sequence classifier with the adapter's LoRA and head; on the
    4-bit base it was trained on where `compute_dtype` is given (unmerged), else merged into an fp32 base."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    head = json.loads(Path(adapter, FILE).read_text())
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    kwargs = {"num_labels": head["num_labels"], "pad_token_id": tokenizer.pad_token_id}
    if compute_dtype:
        dtype = getattr(torch, compute_dtype)
        kwargs |= {"quantization_config": quantization_config(dtype, ["score"]), "dtype": dtype}
    else:
        kwargs["dtype"] = torch.float32
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # "score.weight newly initialised": it is, until the adapter's head loads
    try:
        model = AutoModelForSequenceClassification.from_pretrained(base, **kwargs)
    finally:
        logging.set_verbosity(verbosity)
    model = load_adapter(model, adapter)
    if not compute_dtype:
        model = model.merge_and_unload()
    return model.eval(), tokenizer, head


class HeadClassifier(Classifier):
    def __init__(self, model, tokenizer, head: dict, max_length: int, batch_size: int, fit_seconds: float,
                 train_rows: int, info: dict | None = None, progress: bool = True, autocast: str | None = None,
                 fit_flops: float | None = None):
        self.model, self.tokenizer, self.head = model, tokenizer, head
        self.autocast = autocast  # the dtype training computed in (`finetune_head.cpu_autocast`): scored alike
        self.fields = head["fields"]
        self.max_length, self.batch_size, self.info, self.progress = max_length, batch_size, info or {}, progress
        self.fit_seconds_, self.train_rows_ = fit_seconds, train_rows  # the training run's own figures
        self.fit_flops_, self.shape = fit_flops, counting.shape(model)

    def fit(self, train, val):
        """Trained by its own stage (`finetune_head`): the up-front cost is that run's measured time."""
        return self

    def describe(self) -> dict:
        return {"provider": "local", "head": "sequence classification", **self.info}

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> tuple[list[dict[str, torch.Tensor]], list[int], list[bool]]:
        """Per text: each field's softmax over its labels; and the tokens read and whether the text was cut,
        as training cut it (the first `max_length` tokens, no template)."""
        ids = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        cut = [len(x) > self.max_length for x in ids]
        ids = [x[: self.max_length] for x in ids]
        out: list[dict | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))  # similar lengths batch with little padding
        pad = self.model.config.pad_token_id
        for idx in batched(order, self.batch_size):
            width = max(len(ids[i]) for i in idx)
            batch = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                batch[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            with self._autocast():
                logits = self.model(input_ids=batch, attention_mask=mask).logits.float()
            for row, i in enumerate(idx):
                out[i] = {f: torch.softmax(logits[row, part], -1) for f, part in field_slices(self.head).items()}
        return out, [len(x) for x in ids], cut

    def _autocast(self):
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(self.model.device.type, dtype=getattr(torch, self.autocast))

    def predict(self, records):
        start = time.perf_counter()
        probs, n_tokens, cut = self.probabilities([r["text"] for r in records])
        per = (time.perf_counter() - start) / max(len(records), 1)
        out = []
        for r, p, n, c in zip(records, probs, n_tokens, cut, strict=True):
            best = {f: int(p[f].argmax()) for f in self.fields}
            pred = {f: self.head["labels"][f][best[f]] for f in self.fields}
            out.append(prediction(r, pred, raw=json.dumps(pred, ensure_ascii=False), latency_s=per, input_tokens=n,
                                  output_tokens=0, confidence={f: float(p[f][best[f]]) for f in self.fields},
                                  confidence_kind="softmax", flops=counting.forward_flops(self.shape, n),
                                  probs={f: dict(zip(self.head["labels"][f], p[f].tolist(), strict=True))
                                         for f in self.fields},
                                  **({"truncated": True} if c else {})))
        return out


def build(params, task: str, name: str, adapter: Path | None = None, training: dict | None = None) -> HeadClassifier:
    """Method `name` (type head) for `task`: the task's head adapter and its training metrics, or those given (the
    learning curve and seed runs train their own)."""
    cfg, adapter = params.method(name), adapter or paths.head_adapter(task)
    if not (adapter / "adapter_config.json").exists():
        raise PipelineError(f"{adapter}: no adapter; run the finetune_head stage first "
                            f"(dvc repro finetune_head@{task})")
    training = training or read_json(paths.head_train_metrics(task))
    # a QLoRA head is scored on the 4-bit base it was trained on
    model, tokenizer, head = load(str(paths.BASE_MODEL), adapter, training.get("compute_dtype"))
    autocast = training.get("autocast")  # scored in the precision it trained in
    info = {"model": params.base_model, "adapter": str(adapter), "base_precision": training["base_precision"],
            "autocast": autocast, "recipe_search": training.get("search"), "recipe_chosen": training.get("chosen")}
    return HeadClassifier(model, tokenizer, head, max_length=training["max_input_tokens"], batch_size=cfg.batch_size,
                          fit_seconds=training["train_seconds"], train_rows=training["train_samples"], info=info,
                          autocast=autocast, fit_flops=training.get("train_flops"))
