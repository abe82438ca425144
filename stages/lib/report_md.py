"""The report's Markdown: the answer first (each task's decision in words, its pictures), then every method
(counted costs beside measured times), the paired verdicts, the cascade, the learning curves and calibration;
and the README's results block (the answer and the table)."""
from __future__ import annotations

from pathlib import Path

from stages.lib import paths
from stages.lib.config import Params
from stages.lib.files import atomic_path, read_json
from stages.lib.methods.registry import curve_methods
from stages.lib.plots import learning_curve
from stages.lib.summary import (
    comparisons,
    machine,
    render_calibration,
    render_cascade,
    render_curve,
    render_markdown,
    render_search,
    render_seeds,
    update_readme,
)


def render_decisions(tasks: list[str], quick: bool) -> str:
    """Each task's decision in words (stages.decide wrote them), and how many labels a trained method needs."""
    from stages.lib.decision_text import labels_file, labels_sentence, paragraph

    out = []
    for task in tasks:
        if not paths.decision(task).exists():
            continue
        dec = read_json(paths.decision(task))
        out.append(paragraph(dec, dec["priced_at"], quick))
        if labels_file(task).exists() and (lab := read_json(labels_file(task)))["against"]:
            out.append(labels_sentence(task, lab["against"], lab["methods"]))
    return "\n\n".join(filter(None, out)) or "No decision yet: run `dvc repro`."


def write_report(params: Params, rows: list[dict], reference: str | None) -> None:
    """metrics/report.md and the README's results block, from the report's rows."""
    curve = params.learning_curve
    sentences = comparisons(params.report.tasks)
    curve_tables = [(task, render_curve(task, learning_curve(task, curve.sizes, curve_methods(params), reference,
                                                             rows), reference)) for task in curve.tasks]
    spread = render_seeds(rows)  # the spread across fine-tuning seeds, where seed_spread trained several
    searched = render_search(rows)  # what each fine-tuning's search chose, and every candidate's score
    cascade = render_cascade(rows, params.report.tasks)

    answer = render_decisions(params.report.tasks, params.profile != "full")
    costs = (f"Costs (`$ / 1M`, `up-front $`, break-even) are counted work priced at {params.costs.profile().about}"
             f" (docs/costs.md); `s/sample` and `samples/s` were measured on {machine()}, under whatever load it had:"
             " facts about that machine, which feed no choice.")

    def answer_section(image_dir: str, level: str = "##") -> str:
        pictures = " ".join(f"![{kind} {t}]({image_dir}/{kind}/{t}.png)" for t in params.report.tasks
                            for kind in ("frontier", "total_cost") if Path(f"metrics/decision_plots/{kind}/{t}.png")
                            .exists())
        return f"{level} The answer\n\n{answer}" + (f"\n\n{pictures}" if pictures else "")

    collapse = ("\n\n⚠ collapsed: on validation it answers one class for nearly every row while the data have "
                "several, a majority-class answerer in disguise (the rule: docs/results.md)."
                if any(r.get("collapsed_fields") for r in rows) else "")

    def table(level: str = "##") -> str:
        return f"{level} Every method\n\n{costs}\n\n" + render_markdown(rows, reference) + collapse

    def body(image_dir: str) -> str:
        return (table() + (f"\n\n{spread}" if spread else "") + (f"\n\n{searched}" if searched else "")
                + "\n\n**Is the difference real?** Paired on the same test rows (bootstrap interval of the accuracy "
                "difference, exact McNemar test Holm-adjusted over each task's comparisons, "
                f"{params.evaluate.confidence:.0%}; fine-tuning: its first seed):\n\n"
                + "\n".join(f"- {line}" for line in sentences)
                + (f"\n\n{cascade}" if cascade else "")
                + "".join(f"\n\n{curve_md}\n\n![learning curve {task}]({image_dir}/learning_curve_{task}.png)"
                          for task, curve_md in curve_tables if curve_md)
                + (f"\n\n{calibrated}" if (calibrated := render_calibration(rows, image_dir)) else ""))

    title = "# Fine-tuning vs prompting: results" + (" (quick profile)" if params.profile != "full" else "")
    with atomic_path("metrics/report.md") as tmp:
        tmp.write_text(f"{title}\n\n{answer_section('decision_plots')}\n\n{body('plots/png')}\n",
                       encoding="utf-8")
    # the README: the answer and the table; verdicts, cascade, curves and calibration stay in the report
    rest = ("The paired verdicts, the cascade, the learning curves and calibration: "
            "[metrics/report.md](metrics/report.md).")
    update_readme("README.md", f"{answer_section('metrics/decision_plots', '###')}\n\n{table('###')}\n\n{rest}",
                  params)
