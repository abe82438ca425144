"""Confusion matrices of one method on one task: rows for DVC's `confusion` plot template, and a PNG."""
from __future__ import annotations

from pathlib import Path

from stages.lib.scoring import INVALID


def confusion_rows(predictions: list[dict], field: str) -> list[dict]:
    """Rows for DVC's `confusion` plot template."""
    return [{"actual": p["true"][field], "predicted": (p["pred"] or {}).get(field) or INVALID} for p in predictions]


def confusion_png(rows: list[dict], path: Path, title: str) -> None:
    """Counts (rows: actual, columns: predicted) drawn with matplotlib's object API: no pyplot and no
    scikit-learn to import, so an evaluate stage starts in about a second."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = sorted({r["actual"] for r in rows} | {r["predicted"] for r in rows})
    index = {lb: i for i, lb in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for r in rows:
        counts[index[r["actual"]], index[r["predicted"]]] += 1
    size = max(5, 0.35 * len(labels) + 3)
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="viridis")
    if len(labels) <= 25:
        for (i, j), v in np.ndenumerate(counts):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="black" if v > counts.max() / 2 else "white")
    short = [lb if len(lb) <= 28 else lb[:26] + "…" for lb in labels]
    ax.set_xticks(range(len(labels)), short, fontsize=7, rotation="vertical")
    ax.set_yticks(range(len(labels)), short, fontsize=7)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
