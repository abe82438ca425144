"""Stage: the classification-head model's test predictions: one forward pass per text, each field's argmax, with
its softmax probability recorded as `confidence`. Inputs are cut exactly as in training.

python -m stages.predict_finetuned_head --task multitask
"""
from pathlib import Path

from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import HeadMethod, Params, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.head_classifier import HeadClassifier, load
from stages.lib.predictions import fit_predict_write


def build_classifier(params: Params, task: str, method: str, adapter: Path | None = None,
                     training: dict | None = None) -> HeadClassifier:
    """The head model as a classifier: the task's adapter and its training metrics, or those given (the learning
    curve trains its own)."""
    cfg, adapter = params.method(method), adapter or paths.head_adapter(task)
    if not isinstance(cfg, HeadMethod):
        raise PipelineError(f"params.yaml: methods.{method}.type must be head for this stage")
    if not (adapter / "adapter_config.json").exists():
        raise PipelineError(f"{adapter}: no adapter; run the finetune_head stage first "
                            f"(dvc repro finetune_head@{task})")
    training = training or read_json(paths.head_train_metrics(task))
    # a QLoRA head is scored on the 4-bit base it was trained on
    model, tokenizer, head = load(str(paths.BASE_MODEL), adapter, training.get("compute_dtype"))
    autocast = training.get("autocast")  # scored in the precision it trained in
    info = {"model": params.base_model, "adapter": str(adapter), "base_precision": training["base_precision"],
            "autocast": autocast}
    return HeadClassifier(model, tokenizer, head, max_length=training["max_input_tokens"], batch_size=cfg.batch_size,
                          fit_seconds=training["train_seconds"], train_rows=training["train_samples"], info=info,
                          autocast=autocast)


def main() -> None:
    args = stage_args("task", method={"default": "finetuned_head"})
    params = load_params()
    fit_predict_write(build_classifier(params, args.task, args.method), args.task, args.method, ["val", "test"],
                      val_rows=params.evaluate.val_rows)


if __name__ == "__main__":
    run(main)
