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


def short_labels(labels: list[str], width: int = 45) -> list[str]:
    """Tick labels at most `width` characters that stay distinct: a long label keeps its start and its end (two
    labels cut at the same 44 characters were one tick)."""
    out = [c if len(c) <= width else c[: width - 14] + "…" + c[-13:] for c in labels]
    seen: dict[str, int] = {}
    for i, c in enumerate(out):
        seen[c] = seen.get(c, 0) + 1
        if seen[c] > 1:
            out[i] = f"{c} ({seen[c]})"
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
    ax.set_xlabel("USD per million classifications, counted (log)")
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
        ax.set_yticklabels(short_labels(classes), fontsize=7)
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
            if paths.curve_point(task, method, size).exists():
                points.setdefault(method, []).append(read_json(paths.curve_point(task, method, size)))
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
    (Path(out_dir) / "learning_curve" / task).mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 5))
    for method, pts in sorted(curves.items()):
        write_json(Path(out_dir) / "learning_curve" / task / f"{method}.json", pts)
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
    fig.savefig(Path(out_dir) / "png" / f"learning_curve_{task}.png", dpi=80)
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


def write_decision_plots(task: str, rows: list[dict], decision: dict, d) -> None:
    """The decision's two pictures for one task, as data for DVC's templates and as PNGs: the cost-accuracy
    frontier (accuracy with its interval against counted $ per million, log axis; Pareto-optimal methods ringed and
    joined) and total cost against volume (labels and up-front work paid once, then per classification), where
    lines cross at the break-even volumes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stages.lib.decision_text import cost_at_volume

    priced = [r for r in rows if r.get("cost_per_million") is not None]
    front = set(decision.get("pareto") or [])
    chosen = (decision.get("choice") or {}).get("method")
    points = [{"method": r["method"], "accuracy": r["accuracy"], "accuracy_low": r["accuracy_ci"]["low"],
               "accuracy_high": r["accuracy_ci"]["high"], "cost_per_million": r["cost_per_million"],
               "pareto": r["method"] in front} for r in priced]
    write_json(paths.decision_plot(task, "frontier"), points)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in points:
        ax.errorbar([p["cost_per_million"]], [p["accuracy"]], fmt="o", capsize=3, label=p["method"],
                    yerr=[[p["accuracy"] - p["accuracy_low"]], [p["accuracy_high"] - p["accuracy"]]])
        if p["pareto"]:
            ax.scatter([p["cost_per_million"]], [p["accuracy"]], s=160, facecolors="none", edgecolors="black")
        ax.annotate(p["method"] + (" ← use" if p["method"] == chosen else ""),
                    (p["cost_per_million"], p["accuracy"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    line = sorted((p for p in points if p["pareto"]), key=lambda p: p["cost_per_million"])
    ax.plot([p["cost_per_million"] for p in line], [p["accuracy"] for p in line], color="black", lw=0.8, ls=":")
    ax.set_xscale("log")
    # no "$" in labels: matplotlib reads a pair of them as mathtext
    ax.set_xlabel(f"USD per million classifications, counted ({decision['priced_at'].replace('$', 'USD ')}; log)")
    ax.set_ylabel("test accuracy (bars: interval)")
    ax.set_title(f"cost-accuracy frontier · {task} (ringed: Pareto-optimal)")
    fig.tight_layout()
    save(fig, paths.decision_plot(task, "frontier", "png"))
    plt.close(fig)

    volumes = [10 ** (k / 4) for k in range(8, 41)]  # 100 to 10^10 classifications
    lines = [{"method": r["method"], "volume": v, "total_cost": cost_at_volume(r, d, v)} for r in priced
             for v in volumes]
    write_json(paths.decision_plot(task, "total_cost"), lines)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in priced:
        ax.plot(volumes, [cost_at_volume(r, d, v) for v in volumes], label=r["method"],
                lw=2.5 if r["method"] == chosen else 1)
    for b in decision.get("break_even") or []:
        a = next(r for r in priced if r["method"] == b["methods"][0])
        if volumes[0] <= b["volume"] <= volumes[-1]:
            ax.scatter([b["volume"]], [cost_at_volume(a, d, b["volume"])], s=12, color="black", zorder=3)
    planned = d.volume_per_month * d.horizon_months
    if planned > 0:
        ax.axvline(planned, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("classifications (log; dashed: volume x horizon in `decision:`)")
    ax.set_ylabel("total cost, USD (labels + up-front + per row; log)")
    ax.set_title(f"total cost by volume · {task} (dots: break-even points)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, paths.decision_plot(task, "total_cost", "png"))
    plt.close(fig)


def save(fig, path: Path) -> None:
    """A figure written whole or not at all."""
    from stages.lib.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format=path.suffix.lstrip("."))
