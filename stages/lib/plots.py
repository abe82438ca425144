"""The report's comparison plots: accuracy against cost per million classifications, and per-class F1 by method.
Each is written as data for DVC's templates (`dvc plots show/diff`) and as a PNG."""
from __future__ import annotations

from pathlib import Path

from stages.lib import paths
from stages.lib.files import read_json, write_json


def accuracy_vs_cost(rows: list[dict]) -> list[dict]:
    return [
        {
            "task": r["task"],
            "method": r["method"],
            "accuracy": r["accuracy"],
            "accuracy_low": r["accuracy_ci"]["low"],
            "accuracy_high": r["accuracy_ci"]["high"],
            "cost_per_million": r["cost_per_million"],
        }
        for r in rows
        if r.get("cost_per_million")
    ]


def per_class_f1(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        m = read_json(paths.eval_details(r["task"], r["method"]))
        multi = len(m["fields"]) > 1
        for field, fm in m["fields"].items():
            for cls, s in fm["per_class"].items():
                if s["support"]:
                    out.append({"task": r["task"], "method": r["method"],
                                "class": f"{field}: {cls}" if multi else cls, "f1": s["f1"], "support": s["support"]})
    return out


def write_plots(out_dir: Path | str, rows: list[dict], confidence: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    png = out_dir / "png"
    png.mkdir(parents=True, exist_ok=True)
    points = accuracy_vs_cost(rows)
    write_json(out_dir / "accuracy_vs_cost.json", points)
    fig, ax = plt.subplots(figsize=(7, 5))
    for method in sorted({p["method"] for p in points}):
        pts = [p for p in points if p["method"] == method]
        ax.errorbar(
            [p["cost_per_million"] for p in pts],
            [p["accuracy"] for p in pts],
            fmt="o",
            capsize=3,
            yerr=[[p["accuracy"] - p["accuracy_low"] for p in pts], [p["accuracy_high"] - p["accuracy"] for p in pts]],
            label=method,
        )
        for p in pts:
            ax.annotate(p["task"], (p["cost_per_million"], p["accuracy"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("$ per million classifications (log)")
    ax.set_ylabel(f"accuracy (bars: {confidence:.0%} bootstrap interval)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png / "accuracy_vs_cost.png", dpi=80)
    plt.close(fig)

    f1 = per_class_f1(rows)
    write_json(out_dir / "per_class_f1.json", f1)
    for task in sorted({r["task"] for r in f1}):
        sub = [r for r in f1 if r["task"] == task]
        classes = sorted({r["class"] for r in sub})[:40]
        methods = sorted({r["method"] for r in sub})
        fig, ax = plt.subplots(figsize=(8, max(3, 0.3 * len(classes) * max(1, len(methods) / 3))))
        height = 0.8 / len(methods)
        for k, method in enumerate(methods):
            vals = {r["class"]: r["f1"] for r in sub if r["method"] == method}
            ax.barh(
                [i + k * height for i in range(len(classes))], [vals.get(c, 0) for c in classes], height, label=method
            )
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(classes))])
        ax.set_yticklabels([c if len(c) <= 45 else c[:43] + "…" for c in classes], fontsize=7)
        ax.set_xlabel("F1")
        ax.set_title(f"per-class F1 · {task}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(png / f"per_class_f1_{task}.png", dpi=80)
        plt.close(fig)


def learning_curve(task: str, sizes: list[int], methods: list[str], flat: str | None,
                   rows: list[dict]) -> dict[str, list[dict]]:
    """Per method of `methods` (the curve's, from the method registry), its accuracy at each curve size and at
    the pipeline's full-size run; zero-shot, which learns from no rows (`flat`), as a flat reference across the
    same range."""
    points: dict[str, list[dict]] = {}
    for method in methods:
        for size in sizes:
            if paths.curve_point(method, size).exists():
                points.setdefault(method, []).append(read_json(paths.curve_point(method, size)))
    full = {r["method"]: r for r in rows if r["task"] == task}
    for method in list(points):
        if method in full:
            points[method].append(full[method])
    out = {
        m: sorted(
            (
                {
                    "method": m,
                    "train_rows": p["train_rows"],
                    "accuracy": p["accuracy"],
                    "accuracy_low": p["accuracy_ci"]["low"],
                    "accuracy_high": p["accuracy_ci"]["high"],
                }
                for p in pts
            ),
            key=lambda p: p["train_rows"],
        )
        for m, pts in points.items()
    }
    if flat in full and out:
        z = full[flat]
        xs = sorted({p["train_rows"] for pts in out.values() for p in pts})
        out[flat] = [{"method": flat, "train_rows": x, "accuracy": z["accuracy"],
                             "accuracy_low": z["accuracy_ci"]["low"], "accuracy_high": z["accuracy_ci"]["high"]}
                            for x in (xs[0], xs[-1])]
    return out


def write_learning_curve(
    out_dir: Path | str, task: str, sizes: list[int], methods: list[str], flat: str | None, rows: list[dict],
    confidence: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = learning_curve(task, sizes, methods, flat, rows)
    (Path(out_dir) / "learning_curve").mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 5))
    for method, pts in sorted(curves.items()):
        write_json(Path(out_dir) / "learning_curve" / f"{method}.json", pts)
        xs = [p["train_rows"] for p in pts]
        line = ax.plot(xs, [p["accuracy"] for p in pts], marker="o" if method != flat else None,
                       linestyle="--" if method == flat else "-", label=method)[0]
        ax.fill_between(xs, [p["accuracy_low"] for p in pts], [p["accuracy_high"] for p in pts],
                        color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labelled training rows (log scale)")
    ax.set_ylabel(f"test accuracy (band: {confidence:.0%} bootstrap interval)")
    ax.set_title(f"learning curve · {task}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(Path(out_dir) / "png" / "learning_curve.png", dpi=80)
    plt.close(fig)


def write_reliability(out_dir: Path | str, rows: list[dict]) -> None:
    """Per task, the reliability diagram of every method that gives confidences, from its test rows (which no
    confidence was fitted on): DVC plot data per method (`reliability/<task>/<method>.json`) and one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task in sorted({r["task"] for r in rows}):
        curves = {r["method"]: read_json(paths.eval_details(task, r["method"])).get("calibration")
                  for r in rows if r["task"] == task}
        curves = {m: c for m, c in curves.items() if c}
        if not curves:
            continue
        (Path(out_dir) / "reliability" / task).mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 6))
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
        for method, cal in sorted(curves.items()):
            points = [{"method": method, **b} for b in cal["reliability"]]
            write_json(Path(out_dir) / "reliability" / task / f"{method}.json", points)
            ax.plot([p["confidence"] for p in points], [p["accuracy"] for p in points], marker="o",
                    label=f"{method} ({', '.join(cal['confidence_kinds'])})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean confidence in the bin (test rows)")
        ax.set_ylabel("accuracy in the bin")
        ax.set_title(f"reliability · {task}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / "png" / f"reliability_{task}.png", dpi=80)
        plt.close(fig)
