"""Stage: one method's validation and test predictions for one task, whatever the method: the method registry
builds its classifier (stages/lib/methods/registry.py), which is fitted on the task's train/val and predicts.

python -m stages.predict --task balanced --method zero_shot [--val-rows 48]
With `methods.<method>.processes` > 1 the stage reruns itself under torchrun and the rows are sharded.
"""
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.methods.registry import build, data_parallel
from stages.lib.predictions import fit_predict_write


def main() -> None:
    args = stage_args("task", "method", **{"val-rows": {"type": int, "default": None,
                                                        "help": "predict the first N validation rows (default: all)"}})
    params = load_params()
    parallel = data_parallel(params, args.method)  # first: with processes > 1 it reruns this under torchrun
    fit_predict_write(build(params, args.task, args.method), args.task, args.method, ["val", "test"], parallel,
                      val_rows=args.val_rows)


if __name__ == "__main__":
    run(main)
