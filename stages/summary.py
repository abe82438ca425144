"""The comparison table: one row per task x method, from the metrics files alone.

A column is a (key, header, format) triple; a value that was not measured stays None and renders as "—".
"""
from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from stages.io import read_json

COLUMNS = [
    ("task", "task", "{}"),
    ("method", "method", "{}"),
    ("n", "n", "{}"),
    ("accuracy", "accuracy", "{:.1%}"),
    ("macro_f1", "macro-F1", "{:.3f}"),
    ("weighted_f1", "weighted-F1", "{:.3f}"),
    ("invalid_rate", "invalid", "{:.1%}"),
    ("latency_s", "s/sample", "{:.3f}"),
    ("throughput", "samples/s", "{:.2f}"),
    ("input_tokens", "in tok/sample", "{:.0f}"),
    ("output_tokens", "out tok/sample", "{:.1f}"),
]


def collect(metrics_dir: Path | str, tasks: list[str], methods: list[str]) -> list[dict]:
    """Rows for every task x method whose metrics exist; missing runs are simply absent."""
    rows = []
    for task in tasks:
        for method in methods:
            path = Path(metrics_dir) / task / f"{method}.json"
            if path.exists():
                m = read_json(path)
                rows.append({"task": task, "method": method, **{k: m.get(k) for k, _, _ in COLUMNS[2:]}})
    return rows


def render_markdown(rows: list[dict], columns=COLUMNS) -> str:
    def cell(value, fmt):
        return "—" if value is None else fmt.format(value)

    table = [[cell(r.get(k), fmt) for k, _, fmt in columns] for r in rows]
    return tabulate(table, headers=[h for _, h, _ in columns], tablefmt="github", disable_numparse=True)
