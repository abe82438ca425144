"""Confusion matrices of one method on one task: rows for DVC's `confusion` plot template, and a PNG."""
from __future__ import annotations

from pathlib import Path

from stages.lib.scoring import INVALID


def confusion_rows(predictions: list[dict], field: str) -> list[dict]:
    """Rows for DVC's `confusion` plot template."""
    return [{"actual": p["true"][field], "predicted": (p["pred"] or {}).get(field) or INVALID} for p in predictions]


def confusion_png(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = sorted({r["actual"] for r in rows} | {r["predicted"] for r in rows})
    size = max(5, 0.35 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        [r["actual"] for r in rows], [r["predicted"] for r in rows], labels=labels, ax=ax, colorbar=False,
        xticks_rotation="vertical", include_values=len(labels) <= 25,
    )
    short = [lb if len(lb) <= 28 else lb[:26] + "…" for lb in labels]
    ax.set_xticklabels(short, fontsize=7)
    ax.set_yticklabels(short, fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
