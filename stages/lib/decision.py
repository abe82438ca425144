"""The answer, stated: for one task, which method to use under the user's constraints (`decision:`), what it costs,
the runner-up, and whether the gap between them is real.

Every figure a choice reads is counted, never timed (stages/lib/counting.py), so a loaded machine cannot change the
answer. The rule:
1. A method qualifies when it is allowed (`allow_api`), reaches `min_accuracy` on test and costs at most
   `max_cost_per_million`.
2. Its total cost of ownership over the horizon: labelled rows x `label_cost` + up-front work (training, mining)
   + volume_per_month x horizon_months x its cost per classification.
3. The most accurate qualifying method is paired, row by row on the same test rows, with every other qualifying
   one (Holm-adjusted over that family). Those it is not distinguishably better than are as good as it, as far as
   the test rows can tell; of those (and itself) the one with the lowest total cost is the choice. So when nothing
   is distinguishable from the cheapest, the cheapest wins.
4. The runner-up: the most accurate method where the choice is a cheaper one, else the cheapest other qualifying
   method; its verdict is the paired one against the most accurate.
"""
from __future__ import annotations

import math

import numpy as np

from stages.lib.decision_text import cost_at_volume, total_cost  # noqa: F401 (re-exported)
from stages.lib.scoring import adjust_family, paired_outcomes


def qualifies(row: dict, d) -> str | None:
    """None when `row` meets the constraints, else why not, in words."""
    if row.get("cost_per_million") is None:
        return "its cost was not counted"
    if row.get("api") and not d.allow_api:
        return "it sends rows to an API (allow_api is false)"
    if d.min_accuracy is not None and row["accuracy"] < d.min_accuracy:
        return f"accuracy {row['accuracy']:.1%} is under the minimum {d.min_accuracy:.0%}"
    if d.max_cost_per_million is not None and row["cost_per_million"] > d.max_cost_per_million:
        return f"${row['cost_per_million']:,.2f} per 1M is over the maximum ${d.max_cost_per_million:,.2f}"
    return None


def decide(task: str, rows: list[dict], outcomes: dict[str, np.ndarray], d, bootstrap: int, confidence: float,
           seed: int) -> dict:
    """The decision for `task` from its report rows (with counted costs) and each method's right/wrong test rows."""
    excluded = {r["method"]: why for r in rows if (why := qualifies(r, d))}
    ok = [r for r in rows if r["method"] not in excluded]
    for r in ok:
        r["tco"] = total_cost(r, d)
    out = {"task": task, "constraints": {k: getattr(d, k) for k in d.__dataclass_fields__}, "excluded": excluded}
    if not ok:
        allowed = [r for r in rows if r.get("cost_per_million") is not None and (d.allow_api or not r.get("api"))]
        best = max(allowed, key=lambda r: r["accuracy"], default=None)
        fallback = max((r for r in allowed if r.get("coverage_at_target") is not None),
                       key=lambda r: r["coverage_at_target"], default=None)
        return {**out, "choice": None, "runner_up": None, "ranking": [],
                "most_accurate": None if best is None else {"method": best["method"], "accuracy": best["accuracy"]},
                "abstention": None if fallback is None else {
                    "method": fallback["method"], "target_accuracy": fallback.get("target_accuracy"),
                    "coverage": fallback["coverage_at_target"], "coverage_ci": fallback.get("coverage_at_target_ci"),
                    "accuracy": fallback.get("accuracy_at_target")}}
    best = max(ok, key=lambda r: (r["accuracy"], -r["tco"]["total"]))
    family = adjust_family({r["method"]: paired_outcomes(outcomes[best["method"]], outcomes[r["method"]], bootstrap,
                                                         confidence, seed)
                            for r in ok if r is not best}, confidence)
    as_good = [best] + [r for r in ok if r is not best and not family[r["method"]]["distinguishable"]]
    choice = min(as_good, key=lambda r: (r["tco"]["total"], -r["accuracy"]))
    others = sorted((r for r in ok if r is not choice), key=lambda r: r["tco"]["total"])
    runner = best if choice is not best else (others[0] if others else None)
    verdict = None if runner is None else family[(runner if choice is best else choice)["method"]]

    def entry(r: dict) -> dict:
        return {"method": r["method"], "accuracy": r["accuracy"], "accuracy_ci": r["accuracy_ci"],
                "cost_per_million": r["cost_per_million"], "upfront_cost": r.get("upfront_cost"),
                "labelled_rows": r.get("train_rows") or 0, "api": bool(r.get("api")), "total_cost": r["tco"],
                "vs_most_accurate": family.get(r["method"])}

    return {**out, "choice": entry(choice), "most_accurate": best["method"],
            "runner_up": None if runner is None else {**entry(runner), "verdict": verdict},
            "ranking": [entry(r) for r in sorted(ok, key=lambda r: r["tco"]["total"])],
            "pareto": pareto([r for r in rows if r.get("cost_per_million") is not None])}


def pareto(rows: list[dict]) -> list[str]:
    """The methods no other one beats on both accuracy and cost per classification (ties: neither beats)."""
    return [r["method"] for r in rows
            if not any(o["accuracy"] >= r["accuracy"] and o["cost_per_million"] <= r["cost_per_million"]
                       and (o["accuracy"] > r["accuracy"] or o["cost_per_million"] < r["cost_per_million"])
                       for o in rows)]


def break_evens(rows: list[dict], d) -> list[dict]:
    """Where two methods' total-cost lines cross: the volume after which the one with more paid up front (labels,
    training) becomes the cheaper, for each pair that crosses."""
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            fa, fb = (total_cost(r, d)["labels"] + total_cost(r, d)["upfront"] for r in (a, b))
            ca, cb = a["cost_per_million"] / 1e6, b["cost_per_million"] / 1e6
            if (fa - fb) * (ca - cb) < 0 and (fa - fb) / (cb - ca) >= 1:  # the lines cross, after a classification
                out.append({"methods": [a["method"], b["method"]], "volume": (fa - fb) / (cb - ca)})
    return sorted(out, key=lambda x: x["volume"])


# -- how many labels are enough ------------------------------------------------------------------------------------

def _crossing(points: list[tuple[float, float]], target: float) -> float | None:
    """The first number of rows at which the accuracy line (linear in log rows between points) reaches `target`;
    0 when the first point already does; None when no point does."""
    if not points:
        return None
    if points[0][1] >= target:
        return 0.0
    for (n0, a0), (n1, a1) in zip(points, points[1:], strict=False):
        if a1 >= target > a0:
            t = (target - a0) / (a1 - a0)
            return float(math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))))
    return None


def labels_to_match(curve: list[dict], target: float) -> dict:
    """Labelled rows at which a method's learning curve (`curve`: points with train_rows, accuracy, accuracy_low,
    accuracy_high, in order) reaches `target` accuracy, with an interval from its bands: the optimistic end where
    the upper band reaches it, the pessimistic where the lower band does (None: not within the curve's range)."""
    pts = [p for p in curve if p["train_rows"] > 0]
    at = {k: _crossing([(p["train_rows"], p[key]) for p in pts], target)
          for k, key in (("estimate", "accuracy"), ("low", "accuracy_high"), ("high", "accuracy_low"))}
    return {**at, "largest": pts[-1]["train_rows"] if pts else 0, "target": target}


def backtest(curve: list[dict]) -> dict | None:
    """The estimator checked honestly: the largest point's accuracy predicted from the two before it (a line in log
    rows, extended), against what was measured. None with fewer than three points."""
    pts = [p for p in curve if p["train_rows"] > 0]
    if len(pts) < 3:
        return None
    (n0, a0), (n1, a1), (n2, a2) = [(p["train_rows"], p["accuracy"]) for p in pts[-3:]]
    slope = (a1 - a0) / (math.log(n1) - math.log(n0))
    predicted = a1 + slope * (math.log(n2) - math.log(n1))
    return {"rows": n2, "predicted": predicted, "measured": a2, "error": predicted - a2}
