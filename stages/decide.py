"""Stage: the decision for one task: which method to use under `decision:`, its cost, the runner-up and whether
the gap is real (stages/lib/decision.py), and the pictures: the cost-accuracy frontier and total cost against
volume. How many labels are enough is the `labels` stage's.

python -m stages.decide --task balanced
"""
import numpy as np

from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.decision import break_evens, decide
from stages.lib.files import read_json, write_json
from stages.lib.methods.registry import unlearned_method
from stages.lib.plots import write_decision_plots
from stages.lib.summary import add_costs, collect


def main() -> None:
    args = stage_args("task")
    params = load_params()
    methods = params.report.methods
    rows = add_costs(collect([args.task], methods), params.costs.profile(), unlearned_method(params))
    for r in rows:  # an API method's cost comes from its usage: its headline carries the dollars
        r["api"] = read_json(paths.eval_metrics(args.task, r["method"])).get("cost_per_million") is not None
    outcomes = {r["method"]: np.array([c == "1" for c in read_json(paths.eval_rows(args.task, r["method"]))
                                       ["correct"]]) for r in rows}
    ev = params.evaluate
    out = decide(args.task, rows, outcomes, params.decision, ev.bootstrap, ev.confidence, params.seed)
    out |= {"profile": params.profile, "priced_at": params.costs.profile().about,
            "break_even": break_evens([r for r in rows if r.get("cost_per_million") is not None], params.decision)}
    write_decision_plots(args.task, rows, out, params.decision)  # before the metrics: those mark the stage done
    write_json(paths.decision(args.task), out)
    choice = out["choice"]
    print(f"{args.task}: " + (f"use {choice['method']} ({choice['accuracy']:.1%}, "
                              f"${choice['total_cost']['total']:,.2f} in total)" if choice else
                              "no method meets the constraints") + f"; {paths.decision(args.task)}")


if __name__ == "__main__":
    run(main)
