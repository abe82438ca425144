"""Stage: one point of the learning curve — one learning method (TF-IDF, nearest-neighbour few-shot, or either
fine-tuning) on a seeded subsample of `--size` training rows, scored on the full test split with bootstrap
intervals. Each method is its own stage group (curve_baseline, curve_knn, curve_finetuned,
curve_finetuned_head), so `-S model=...` reruns only the points that ask the prompted model.

python -m stages.curve --method finetuned --size 32
"""
import tempfile
from pathlib import Path

from stages import baseline, predict_finetuned, predict_finetuned_head, predict_prompted
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import Params, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import write_json
from stages.lib.learning_curve import METHODS, RECIPES, score, subsample, train_adapter
from stages.lib.predictions import task_data, task_labels


def fine_tuned_point(params: Params, task: str, method: str, train: list[dict], data: dict, labels: dict,
                     seed: int | None = None) -> dict:
    """Train `method`'s recipe on `train` (under training `seed`; default: the recipe's first) into a scratch
    adapter, score it on the test split as its pipeline stage would: the headline figures."""
    with tempfile.TemporaryDirectory() as tmp:
        training = train_adapter(params, method, train, data["val"], labels, Path(tmp) / "adapter", seed)
        builder = {"finetuned": predict_finetuned, "finetuned_head": predict_finetuned_head}[method]
        clf = builder.build_classifier(params, task, method, Path(tmp) / "adapter", training)
        return {**score(clf, train, data["val"], data["test"], labels, params),
                "train_loss": training.get("train_loss"), "train_seconds": training.get("train_seconds")}


def main() -> None:
    args = stage_args("method", "size")
    if args.method not in METHODS:
        raise PipelineError(f"--method {args.method!r}: the learning curve has {', '.join(METHODS)}")
    params, size = load_params(), int(args.size)
    task = params.learning_curve.task
    data, labels = task_data(task, ["test"]), task_labels(task)
    train = subsample(data["train"], size, params.seed)
    if args.method in RECIPES:  # an adapter trained here, with the pipeline's recipe and row draw
        result = fine_tuned_point(params, task, args.method, train, data, labels)
    else:
        builder = {"baseline": baseline, "few_shot_knn": predict_prompted}[args.method]
        result = score(builder.build_classifier(params, task, args.method), train, data["val"], data["test"],
                       labels, params)
    write_json(paths.curve_point(args.method, size), {"task": task, "size": size, "method": args.method, **result})
    print(f"{task} @ {size} rows: {args.method} accuracy {result['accuracy']:.3f} "
          f"[{result['accuracy_ci']['low']:.3f}–{result['accuracy_ci']['high']:.3f}]")


if __name__ == "__main__":
    run(main)
