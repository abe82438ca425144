"""Stage: the comparison of every task x method in `report:` as metrics/summary.json and metrics/report.md.

python -m stages.report
"""
from pathlib import Path

from stages.lib import paths
from stages.lib.cli import run
from stages.lib.config import load_params
from stages.lib.files import atomic_path, read_json, write_json
from stages.lib.methods.registry import curve_methods, recipe, trained_methods, unlearned_method
from stages.lib.plots import learning_curve, write_learning_curve, write_plots, write_reliability
from stages.lib.summary import (
    add_costs,
    add_seed_spread,
    collect,
    comparisons,
    machine,
    render_calibration,
    render_cascade,
    render_curve,
    render_markdown,
    render_seeds,
    update_readme,
)


def render_decisions(tasks: list[str], quick: bool) -> str:
    """Each task's decision in words (stages.decide wrote them), and how many labels a trained method needs."""
    from stages.lib.decision import labels_sentence, paragraph

    out = []
    for task in tasks:
        if not paths.decision(task).exists():
            continue
        dec = read_json(paths.decision(task))
        out.append(paragraph(dec, dec["priced_at"], quick))
        if dec.get("labels"):
            out.append(labels_sentence(task, dec["labels"]["against"], dec["labels"]["methods"]))
    return "\n\n".join(filter(None, out)) or "No decision yet: run `dvc repro`."


def main() -> None:
    params = load_params()
    reference, curve = unlearned_method(params), params.learning_curve
    seeds = {m: recipe(params, m).seeds for m in trained_methods(params)}
    rows = add_seed_spread(add_costs(collect(params.report.tasks, params.report.methods), params.costs.profile(),
                                     reference), params.seed_spread.tasks, seeds)
    write_json("metrics/summary.json", {f"{r['task']}/{r['method']}": r for r in rows})
    with atomic_path("metrics/plots") as tmp:
        write_plots(tmp, rows, params.evaluate.confidence)
        for task in curve.tasks:
            write_learning_curve(tmp, task, curve.sizes, curve_methods(params), reference, rows,
                                 params.evaluate.confidence)
        write_reliability(tmp, rows)
    sentences = comparisons(params.report.tasks)
    curve_tables = [(task, render_curve(task, learning_curve(task, curve.sizes, curve_methods(params), reference,
                                                             rows), reference)) for task in curve.tasks]
    spread = render_seeds(rows)  # the spread across fine-tuning seeds, where seed_spread trained several
    cascade = render_cascade(rows, params.report.tasks)

    answer = render_decisions(params.report.tasks, params.profile != "full")
    costs = (f"Costs (`$ / 1M`, `up-front $`, break-even) are counted work priced at {params.costs.profile().about}"
             f" (docs/costs.md); `s/sample` and `samples/s` were measured on {machine()}, under whatever load it had:"
             " facts about that machine, which feed no choice.")

    def answer_section(image_dir: str) -> str:
        pictures = " ".join(f"![{kind} {t}]({image_dir}/{kind}/{t}.png)" for t in params.report.tasks
                            for kind in ("frontier", "total_cost") if Path(f"metrics/decision_plots/{kind}/{t}.png")
                            .exists())
        return f"## The answer\n\n{answer}" + (f"\n\n{pictures}" if pictures else "")

    def table() -> str:
        return f"## Every method\n\n{costs}\n\n" + render_markdown(rows, reference)

    def body(image_dir: str) -> str:
        return (table() + (f"\n\n{spread}" if spread else "")
                + "\n\n**Is the difference real?** Paired on the same test rows (bootstrap interval of the accuracy "
                "difference, exact McNemar test Holm-adjusted over each task's comparisons, "
                f"{params.evaluate.confidence:.0%}; fine-tuning: its first seed):\n\n"
                + "\n".join(f"- {line}" for line in sentences)
                + (f"\n\n{cascade}" if cascade else "")
                + "".join(f"\n\n{table}\n\n![learning curve {task}]({image_dir}/learning_curve_{task}.png)"
                          for task, table in curve_tables if table)
                + (f"\n\n{calibrated}" if (calibrated := render_calibration(rows, image_dir)) else ""))

    title = "# Fine-tuning vs prompting: results" + (" (quick profile)" if params.profile != "full" else "")
    with atomic_path("metrics/report.md") as tmp:
        tmp.write_text(f"{title}\n\n{answer_section('decision_plots')}\n\n{body('plots/png')}\n",
                       encoding="utf-8")
    # the README: the answer and the table; verdicts, cascade, curves and calibration stay in the report
    rest = ("The paired verdicts, the cascade, the learning curves and calibration: "
            "[metrics/report.md](metrics/report.md).")
    update_readme("README.md", f"{answer_section('metrics/decision_plots')}\n\n{table()}\n\n{rest}", params)
    print("metrics/report.md written (and the README's results block)")


if __name__ == "__main__":
    run(main)
