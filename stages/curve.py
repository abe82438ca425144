"""Stage: one point of the learning curve: one learning method (one that learns from training rows, per the method
registry) on a seeded subsample of `--size` training rows of `--task` (one of `learning_curve.tasks`), scored on
the full test split with bootstrap intervals. Each method is its own stage group (curve_<method>@<task>-<size>), so
`-S model=...` reruns only the points that ask the prompted model.

python -m stages.curve --task imbalanced --method finetuned --size 32
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.errors import PipelineError
from stages.lib.files import write_json
from stages.lib.learning_curve import point, subsample
from stages.lib.methods.registry import method_type
from stages.lib.predictions import task_data, task_labels


def main() -> None:
    args = stage_args("task", "method", "size")
    params, size = load_params(), int(args.size)
    if not method_type(params, args.method).learns(params.method(args.method)):
        raise PipelineError(f"--method {args.method!r} learns nothing from training rows: no learning curve")
    task = args.task
    data, labels = task_data(task, ["test"]), task_labels(task)
    result = point(params, task, args.method, subsample(data["train"], size, params.seed), data, labels)
    write_json(paths.curve_point(task, args.method, size),
               {"task": task, "size": size, "method": args.method, **result})
    print(f"{task} @ {size} rows: {args.method} accuracy {result['accuracy']:.3f} "
          f"[{result['accuracy_ci']['low']:.3f}–{result['accuracy_ci']['high']:.3f}]")


if __name__ == "__main__":
    run(main)
