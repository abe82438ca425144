"""Stage: the comparison of every task x method in `report:` as metrics/summary.json and metrics/report.md.

python -m stages.report
"""
from stages.lib.cli import run
from stages.lib.config import Params, load_params
from stages.lib.files import atomic_path, write_json
from stages.lib.plots import learning_curve, write_learning_curve, write_plots
from stages.lib.summary import add_costs, collect, comparisons, machine, render_curve, render_markdown


def main() -> None:
    params = load_params()
    rows = add_costs(collect(params.report.tasks, params.report.methods), params.costs.hourly_price)
    write_json("metrics/summary.json", {f"{r['task']}/{r['method']}": r for r in rows})
    with atomic_path("metrics/plots") as tmp:
        write_plots(tmp, rows, params.evaluate.confidence)
        write_learning_curve(tmp, params.learning_curve.task, params.learning_curve.sizes, rows,
                             params.evaluate.confidence)
    sentences = comparisons(params.report.tasks)
    curve = render_curve(params.learning_curve.task,
                         learning_curve(params.learning_curve.task, params.learning_curve.sizes, rows))

    def body(image_dir: str) -> str:
        return (render_markdown(rows) + "\n\n**Is the difference real?** Paired on the same test rows (bootstrap "
                f"interval of the accuracy difference, exact McNemar test Holm-adjusted over each task's comparisons, "
                f"{params.evaluate.confidence:.0%}):\n\n"
                + "\n".join(f"- {line}" for line in sentences)
                + f"\n\n{curve}\n\n![learning curve]({image_dir}/learning_curve.png)")

    with atomic_path("metrics/report.md") as tmp:
        tmp.write_text("# Fine-tuning vs prompting: results\n\n" + body("plots/png") + "\n", encoding="utf-8")
    update_readme("README.md", body("metrics/plots/png"), params)
    print(body("metrics/plots/png"))


def update_readme(path: str, table: str, params: Params) -> None:
    """Replace the README's results section with the report, so the README never carries hand-typed numbers."""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if start not in text or end not in text:  # a README without the markers is left alone
        return
    body = (f"{start}\nMeasured by `dvc repro` on {machine()}; base model `{params.base_model}`, prompted model "
            f"`{params.model}`. Written by the `report` stage from `metrics/summary.json`.\n\n{table}\n{end}")
    before, rest = text.split(start, 1)
    with atomic_path(path) as tmp:
        tmp.write_text(before + body + rest.split(end, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    run(main)
