"""Stage: the fine-tuned model's test predictions, through the same decoder as local prompting; its prompt is
only the short system turn it was trained with, and its inputs are cut exactly as in training.

python -m stages.predict_finetuned --task balanced
With `methods.finetuned.processes` > 1 the stage reruns itself under torchrun and the rows are sharded.
"""
from pathlib import Path

import torch

from stages.lib import paths
from stages.lib.backends.local_engine import local_backend
from stages.lib.cli import run, stage_args
from stages.lib.config import Params, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.llm import PromptClassifier
from stages.lib.predictions import fit_predict_write, task_labels
from stages.lib.quantization import quantization_config
from stages.lib.sharding import DataParallel, relaunch


def build_classifier(params: Params, task: str, method: str, adapter: Path | None = None,
                     training: dict | None = None) -> PromptClassifier:
    """The fine-tuned model as a classifier: the task's adapter and its training metrics, or those given (the
    learning curve trains its own)."""
    cfg, adapter = params.method(method), adapter or paths.adapter(task)
    if not (adapter / "adapter_config.json").exists():
        raise PipelineError(f"{adapter}: no adapter; run the finetune stage first (dvc repro finetune@{task})")
    labels, training = task_labels(task), training or read_json(paths.train_metrics(task))
    # a QLoRA adapter is scored on the 4-bit base it was trained on (see backends.local.load)
    qlora = training.get("base_precision") == "nf4"
    quantization = quantization_config(getattr(torch, training["compute_dtype"])) if qlora else None
    # scored by the fp32 decoder, merged; the meta still says what it trained in (the report's recipe label)
    backend = local_backend(params.base_model, params.model_entry(params.base_model), cfg.batch_size, str(adapter),
                            quantization, info={"train_autocast": training.get("autocast")})
    prompt = {"system": params.finetune.system, "fields": list(labels), "labels": labels, "examples": []}
    return PromptClassifier(prompt, backend, mode=cfg.mode, max_new_tokens=cfg.max_new_tokens,
                            max_input_tokens=training["max_input_tokens"], fit_seconds=training["train_seconds"],
                            train_rows=training["train_samples"])


def main() -> None:
    args = stage_args("task", method={"default": "finetuned"})
    params = load_params()
    relaunch(params.method(args.method).processes)
    parallel = DataParallel()
    fit_predict_write(build_classifier(params, args.task, args.method), args.task, args.method, ["val", "test"],
                      parallel, val_rows=params.evaluate.val_rows)


if __name__ == "__main__":
    run(main)
