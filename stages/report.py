"""Stage: the comparison of every task x method in `report:` as metrics/summary.json and metrics/report.md.

python -m stages.report
"""
from stages.io import atomic_path, load_params, run, write_json
from stages.summary import collect, render_markdown


def main() -> None:
    params = load_params()
    rows = collect("metrics/eval", params["report"]["tasks"], params["report"]["methods"])
    write_json("metrics/summary.json", {f"{r['task']}/{r['method']}": r for r in rows})
    table = render_markdown(rows)
    with atomic_path("metrics/report.md") as tmp:
        tmp.write_text("# Fine-tuning vs prompting: results\n\n" + table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    run(main)
