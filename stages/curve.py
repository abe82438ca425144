"""Stage: one point of the learning curve — one learning method (TF-IDF, nearest-neighbour few-shot or
fine-tuning) on a seeded subsample of `--size` training rows, scored on the full test split with bootstrap
intervals. Each method is its own stage group (curve_baseline, curve_knn, curve_finetuned), so `-S model=...`
reruns only the points that ask the prompted model.

python -m stages.curve --method finetuned --size 32
"""
import tempfile
from pathlib import Path

from stages import baseline, predict_finetuned, predict_prompted
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.errors import PipelineError
from stages.lib.files import write_json
from stages.lib.finetuning.rows import training_rows
from stages.lib.learning_curve import METHODS, score, subsample
from stages.lib.predictions import task_data, task_labels


def main() -> None:
    args = stage_args("method", "size")
    if args.method not in METHODS:
        raise PipelineError(f"--method {args.method!r}: the learning curve has {', '.join(METHODS)}")
    params, size = load_params(), int(args.size)
    task = params.learning_curve.task
    data, labels = task_data(task, ["test"]), task_labels(task)
    train = subsample(data["train"], size, params.seed)
    if args.method == "finetuned":
        cfg = params.finetune
        ft_train, ft_val = training_rows(cfg, train, data["val"], params.seed)  # as the finetune stage draws
        from stages.lib.finetuning.generative import train as finetune

        with tempfile.TemporaryDirectory() as tmp:
            adapter = Path(tmp) / "adapter"
            training = finetune(cfg, ft_train, ft_val, str(paths.BASE_MODEL), adapter,
                                cfg.checkpoint_dir or paths.user_cache("checkpoints"), params.seed)
            clf = predict_finetuned.build_classifier(params, task, "finetuned", adapter, training)
            result = score(clf, train, data["val"], data["test"], labels, params)
    else:
        builder = {"baseline": baseline, "few_shot_knn": predict_prompted}[args.method]
        result = score(builder.build_classifier(params, task, args.method), train, data["val"], data["test"],
                       labels, params)
    write_json(paths.curve_point(args.method, size), {"task": task, "size": size, "method": args.method, **result})
    print(f"{task} @ {size} rows: {args.method} accuracy {result['accuracy']:.3f} "
          f"[{result['accuracy_ci']['low']:.3f}–{result['accuracy_ci']['high']:.3f}]")


if __name__ == "__main__":
    run(main)
