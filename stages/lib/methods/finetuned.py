"""The generatively fine-tuned model (type `finetuned`) as a classifier: the base model with the task's adapter,
through the same decoder as local prompting. Its prompt is only the short system turn it was trained with, and its
inputs are cut exactly as in training."""
from __future__ import annotations

from pathlib import Path

import torch

from stages.lib import paths
from stages.lib.backends.local_engine import local_backend
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.llm import PromptClassifier
from stages.lib.predictions import task_labels
from stages.lib.quantization import quantization_config


def build(params, task: str, name: str, adapter: Path | None = None, training: dict | None = None
          ) -> PromptClassifier:
    """Method `name` for `task`: the task's adapter and its training metrics, or those given (the learning curve
    and seed runs train their own)."""
    cfg, adapter = params.method(name), adapter or paths.adapter(task)
    if not (adapter / "adapter_config.json").exists():
        raise PipelineError(f"{adapter}: no adapter; run the finetune stage first (dvc repro finetune@{task})")
    labels, training = task_labels(task), training or read_json(paths.train_metrics(task))
    # a QLoRA adapter is scored on the 4-bit base it was trained on (see backends.local.load)
    qlora = training.get("base_precision") == "nf4"
    quantization = quantization_config(getattr(torch, training["compute_dtype"])) if qlora else None
    # scored by the fp32 decoder, merged; the meta still says what it trained in (the report's recipe label)
    backend = local_backend(params.base_model, params.model_entry(params.base_model), cfg.batch_size, str(adapter),
                            quantization, info={"train_autocast": training.get("autocast"),
                                  "recipe_search": training.get("search"), "recipe_chosen": training.get("chosen")})
    prompt = {"system": params.finetune_for(task).system, "fields": list(labels), "labels": labels, "examples": []}
    return PromptClassifier(prompt, backend, mode=cfg.mode, max_new_tokens=cfg.max_new_tokens,
                            max_input_tokens=training["max_input_tokens"], fit_seconds=training["train_seconds"],
                            train_rows=training["train_samples"], fit_flops=training.get("train_flops"))
