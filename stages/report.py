"""Stage: the comparison of every task x method in `report:` as metrics/summary.json and metrics/report.md.

python -m stages.report
"""
from stages.lib.cli import run
from stages.lib.config import load_params
from stages.lib.files import atomic_path, write_json
from stages.lib.methods.registry import curve_methods, recipe, trained_methods, unlearned_method
from stages.lib.plots import learning_curve, write_learning_curve, write_plots, write_reliability
from stages.lib.summary import (
    add_costs,
    add_seed_spread,
    collect,
    comparisons,
    render_calibration,
    render_cascade,
    render_curve,
    render_markdown,
    render_seeds,
    update_readme,
)


def main() -> None:
    params = load_params()
    reference, curve = unlearned_method(params), params.learning_curve
    seeds = {m: recipe(params, m).seeds for m in trained_methods(params)}
    rows = add_seed_spread(add_costs(collect(params.report.tasks, params.report.methods), params.costs.hourly_price,
                                     reference), params.seed_spread.tasks, seeds)
    write_json("metrics/summary.json", {f"{r['task']}/{r['method']}": r for r in rows})
    with atomic_path("metrics/plots") as tmp:
        write_plots(tmp, rows, params.evaluate.confidence)
        write_learning_curve(tmp, curve.task, curve.sizes, curve_methods(params), reference, rows,
                             params.evaluate.confidence)
        write_reliability(tmp, rows)
    sentences = comparisons(params.report.tasks)
    curve_table = render_curve(curve.task, learning_curve(curve.task, curve.sizes, curve_methods(params), reference,
                                                          rows), reference)
    spread = render_seeds(rows)  # the spread across fine-tuning seeds, where seed_spread trained several
    cascade = render_cascade(rows, params.report.tasks)

    def body(image_dir: str) -> str:
        return (render_markdown(rows, reference) + (f"\n\n{spread}" if spread else "")
                + "\n\n**Is the difference real?** Paired on the same test rows (bootstrap interval of the accuracy "
                "difference, exact McNemar test Holm-adjusted over each task's comparisons, "
                f"{params.evaluate.confidence:.0%}; fine-tuning: its first seed):\n\n"
                + "\n".join(f"- {line}" for line in sentences)
                + (f"\n\n{cascade}" if cascade else "")
                + f"\n\n{curve_table}\n\n![learning curve]({image_dir}/learning_curve.png)"
                + (f"\n\n{calibrated}" if (calibrated := render_calibration(rows, image_dir)) else ""))

    with atomic_path("metrics/report.md") as tmp:
        tmp.write_text("# Fine-tuning vs prompting: results\n\n" + body("plots/png") + "\n", encoding="utf-8")
    update_readme("README.md", body("metrics/plots/png"), params)
    print("metrics/report.md written (and the README's results block)")


if __name__ == "__main__":
    run(main)
