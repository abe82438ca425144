"""Stage: how many labels are enough on one task of `learning_curve.tasks`: from its learning curve, the labelled
rows at which each trained method matches the best prompting method, with an interval, and the estimator checked
on the largest curve point (stages/lib/decision.py).

python -m stages.labels --task imbalanced
"""
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.decision import backtest, labels_to_match
from stages.lib.decision_text import labels_file
from stages.lib.files import write_json
from stages.lib.methods.registry import curve_methods, unlearned_method
from stages.lib.plots import learning_curve
from stages.lib.summary import collect


def main() -> None:
    args = stage_args("task")
    params = load_params()
    rows = collect([args.task], params.report.methods)
    prompted = [r for r in rows if params.method(r["method"]).type == "prompt"]
    out = {"task": args.task, "against": None, "methods": {}, "backtest": {}}
    if prompted:
        target = max(prompted, key=lambda r: r["accuracy"])
        curves = learning_curve(args.task, params.learning_curve.sizes, curve_methods(params),
                                unlearned_method(params), rows)
        learned = {m: pts for m, pts in curves.items()
                   if m != unlearned_method(params) and params.method(m).type != "prompt"}
        out |= {"against": target["method"], "target": target["accuracy"],
                "methods": {m: labels_to_match(pts, target["accuracy"]) for m, pts in learned.items()},
                "backtest": {m: b for m, pts in learned.items() if (b := backtest(pts))}}
    write_json(labels_file(args.task), out)
    print(f"{args.task}: " + "; ".join(f"{m} {e['estimate']}" for m, e in out["methods"].items()))


if __name__ == "__main__":
    run(main)
