"""Stage: the comparison of every task x method in `report:` as metrics/summary.json, metrics/report.md (the answer
first: stages/lib/report_md.py) and the README's results block, with plots.

python -m stages.report
"""
from stages.lib.cli import run
from stages.lib.config import load_params
from stages.lib.files import atomic_path, write_json
from stages.lib.methods.registry import curve_methods, seeded_methods, training_seeds, unlearned_method
from stages.lib.plots import write_learning_curve, write_plots, write_reliability
from stages.lib.report_md import write_report
from stages.lib.summary import add_costs, add_seed_spread, collect


def main() -> None:
    params = load_params()
    reference, curve = unlearned_method(params), params.learning_curve
    seeds = {m: training_seeds(params, m) for m in seeded_methods(params)}
    rows = add_seed_spread(add_costs(collect(params.report.tasks, params.report.methods), params.costs.profile(),
                                     reference), params.seed_spread.tasks, seeds)
    write_json("metrics/summary.json", {f"{r['task']}/{r['method']}": r for r in rows})
    with atomic_path("metrics/plots") as tmp:
        write_plots(tmp, rows, params.evaluate.confidence)
        for task in curve.tasks:
            write_learning_curve(tmp, task, curve.sizes, curve_methods(params), reference, rows,
                                 params.evaluate.confidence)
        write_reliability(tmp, rows)
    write_report(params, rows, reference)
    print("metrics/report.md written (and the README's results block)")


if __name__ == "__main__":
    run(main)
