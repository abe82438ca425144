"""Stage: one training seed: a trained method (a recipe, or an encoder trained inside its prediction stage) on its
pipeline rows of `--task` under training seed `--seed`, scored on the full test split with bootstrap intervals. One
stage per task x seed (seed_<method>@<task>-<seed>); a recipe's each with its own checkpoint in the per-user cache.
The spread across seeds (training's own noise) sits beside the test sample's interval in the report.

python -m stages.seed_run --method finetuned --task imbalanced --seed 43
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.errors import PipelineError
from stages.lib.files import write_json
from stages.lib.learning_curve import point
from stages.lib.methods.registry import seeds_key
from stages.lib.predictions import task_data, task_labels


def main() -> None:
    args = stage_args("method", "task", "seed")
    params, seed = load_params(), int(args.seed)
    if not seeds_key(params, args.method):
        raise PipelineError(f"--method {args.method!r} trains nothing: no training seeds")
    data, labels = task_data(args.task, ["test"]), task_labels(args.task)
    result = point(params, args.task, args.method, data["train"], data, labels, seed)
    write_json(paths.seed_point(args.task, args.method, seed),
               {"task": args.task, "method": args.method, "seed": seed, **result})
    print(f"{args.task} seed {seed}: {args.method} accuracy {result['accuracy']:.3f} "
          f"[{result['accuracy_ci']['low']:.3f}–{result['accuracy_ci']['high']:.3f}]")


if __name__ == "__main__":
    run(main)
