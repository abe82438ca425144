"""Scoring predictions: accuracy, F1s, per-class report, invalid rate, speed and tokens; confusion matrices."""
from __future__ import annotations

import re
import statistics
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

INVALID = "<invalid>"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def field_metrics(y_true: list[str], y_pred: list[str | None], labels: list[str]) -> dict:
    pred = [p if p is not None else INVALID for p in y_pred]
    classes = sorted(set(labels) | set(y_true))  # averages never count "<invalid>" as a class
    p, r, f, s = precision_recall_fscore_support(y_true, pred, labels=classes, zero_division=0)
    return {
        "accuracy": accuracy_score(y_true, pred),
        "macro_f1": f1_score(y_true, pred, labels=sorted(set(y_true)), average="macro", zero_division=0),
        "weighted_f1": f1_score(y_true, pred, labels=classes, average="weighted", zero_division=0),
        "invalid_rate": sum(x is None for x in y_pred) / len(y_pred),
        "per_class": {
            c: {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])} for i, c in enumerate(classes) if s[i] or p[i]
        },
    }


def evaluate(predictions: list[dict], labels: dict[str, list[str]], meta: dict) -> dict:
    """Top-level accuracy is exact match over all fields (= plain accuracy for one field); F1s and the invalid
    rate are averaged over fields. Speed comes from the predict stage's own timing, tokens from each record."""
    fields = list(labels)
    per_field = {
        f: field_metrics([p["true"][f] for p in predictions], [(p["pred"] or {}).get(f) for p in predictions], labels[f])
        for f in fields
    }
    exact = [all((p["pred"] or {}).get(f) == p["true"][f] for f in fields) for p in predictions]
    n = len(predictions)
    seconds = meta.get("predict_seconds")
    return {
        "n": n,
        "accuracy": sum(exact) / n,
        "macro_f1": _mean(m["macro_f1"] for m in per_field.values()),
        "weighted_f1": _mean(m["weighted_f1"] for m in per_field.values()),
        "invalid_rate": sum(p["pred"] is None or any(v is None for v in p["pred"].values()) for p in predictions) / n,
        "latency_s": _mean(p["latency_s"] for p in predictions),
        "throughput": n / seconds if seconds else None,
        "input_tokens": _mean(p.get("input_tokens") for p in predictions),
        "output_tokens": _mean(p.get("output_tokens") for p in predictions),
        "fit_seconds": meta.get("fit_seconds"),
        # API methods: dollars from the API's own usage fields (local methods are priced in the report)
        "cost_per_million": (_mean(p.get("cost_usd") for p in predictions) or 0) * 1e6
        if any(p.get("cost_usd") is not None for p in predictions) else None,
        "fields": per_field,
    }


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
