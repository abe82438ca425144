"""Stage: the fine-tuned model's test predictions, through the same decoder as local prompting; its prompt is
only the short system turn it was trained with.

python -m stages.predict_finetuned --task balanced
"""
from stages.lib import paths
from stages.lib.backends.local import LocalLM, load
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.llm import PromptClassifier
from stages.lib.predictions import fit_predict_write, task_labels


def main() -> None:
    args = stage_args("task", method={"default": "finetuned"})
    params = load_params()
    cfg = params.method(args.method)
    adapter = paths.adapter(args.task)
    if not (adapter / "adapter_config.json").exists():
        raise PipelineError(f"{adapter}: no adapter; run the finetune stage first (dvc repro finetune@{args.task})")
    labels = task_labels(args.task)
    training = read_json(paths.train_metrics(args.task))
    backend = LocalLM(*load(str(paths.BASE_MODEL), adapter=str(adapter)), batch_size=cfg.batch_size,
                      info={"model": params.base_model, "adapter": str(adapter)})
    prompt = {"system": params.finetune.system, "fields": list(labels), "labels": labels, "examples": []}
    clf = PromptClassifier(prompt, backend, mode=cfg.mode, max_new_tokens=cfg.max_new_tokens,
                           fit_seconds=training["train_seconds"], train_rows=training["train_samples"])
    fit_predict_write(clf, args.task, args.method, ["test"])


if __name__ == "__main__":
    run(main)
