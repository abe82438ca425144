"""Stage: one point of the learning curve — TF-IDF, nearest-neighbour few-shot and fine-tuning trained on a seeded
subsample of `--size` training rows, scored on the full test split with bootstrap intervals.

python -m stages.curve --size 32
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.curve import curve_point
from stages.lib.files import write_json


def main() -> None:
    args = stage_args("size")
    params = load_params()
    point = curve_point(params, params.learning_curve.task, int(args.size))
    write_json(paths.curve_point(int(args.size)), point)
    for method, m in point["methods"].items():
        print(f"{point['task']} @ {args.size} rows: {method} accuracy {m['accuracy']:.3f} "
              f"[{m['accuracy_ci']['low']:.3f}–{m['accuracy_ci']['high']:.3f}]")


if __name__ == "__main__":
    run(main)
