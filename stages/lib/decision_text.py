"""The decision and the labels estimate in plain words (the report's first section); no scoring code, so the
report depends on the decisions it reads, not on how they were made."""
from __future__ import annotations

from pathlib import Path


def total_cost(row: dict, d) -> dict:
    """The parts of one method's total cost of ownership under the decision params `d` (a config.Decision)."""
    labels = (row.get("train_rows") or 0) * d.label_cost
    upfront = row.get("upfront_cost") or 0.0
    running = d.volume_per_month * d.horizon_months * row["cost_per_million"] / 1e6
    return {"labels": labels, "upfront": upfront, "running": running, "total": labels + upfront + running}


def cost_at_volume(row: dict, d, volume: float) -> float:
    """Total cost after `volume` classifications (labels and up-front work paid once)."""
    return total_cost(row, d)["labels"] + total_cost(row, d)["upfront"] + volume * row["cost_per_million"] / 1e6


def labels_file(task: str) -> Path:
    """The `labels` stage's output for `task` (kept here, not in stages/lib/paths.py, which every stage reads)."""
    return Path(f"metrics/labels/{task}.json")


def _money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else "under $0.01"


def _acc(e: dict) -> str:
    ci = e["accuracy_ci"]
    return f"{e['accuracy']:.1%} [{ci['low']:.1%}–{ci['high']:.1%}]"


def paragraph(dec: dict, priced_at: str, quick: bool = False) -> str:
    """The decision for one task in plain words (the report's and the README's first section)."""
    c, d = dec["choice"], dec["constraints"]
    horizon = (f"{d['volume_per_month']:,.0f} classifications a month for {d['horizon_months']:g} months, "
               f"labels at {_money(d['label_cost'])} a row")
    head = f"**{dec['task']}**" + (" (quick profile: a first answer, not the final one)" if quick else "")
    if c is None:
        text = f"{head}: no method meets the constraints"
        if dec["excluded"]:
            text += " (" + "; ".join(f"{m}: {why}" for m, why in dec["excluded"].items()) + ")"
        if dec.get("most_accurate"):
            text += f". The most accurate allowed is {dec['most_accurate']['method']} at " \
                    f"{dec['most_accurate']['accuracy']:.1%}"
        if a := dec.get("abstention"):
            text += (f". Abstaining instead: {a['method']} answers {a['coverage']:.0%} of rows at the "
                     f"{a['target_accuracy']:.0%} accuracy target (the rest go to a person)")
        return text + "."
    t = c["total_cost"]
    text = (f"{head}: use **{c['method']}** — {_acc(c)} accurate at {_money(c['cost_per_million'])} per million "
            f"classifications; getting there takes {c['labelled_rows']:,} labelled rows ({_money(t['labels'])})"
            f" and {_money(t['upfront'])} of up-front work; total {_money(t['total'])} for {horizon}.")
    r = dec["runner_up"]
    if r is None:
        return text + " No other method qualifies."
    v = r["verdict"]
    gap = abs(v["difference"]) * 100
    real = ("a real gap" if v["distinguishable"] else "not distinguishable from noise") + \
        f" (paired on the same test rows, Holm-adjusted McNemar p={v['mcnemar_p_holm']:.2g})"
    if r["method"] == dec["most_accurate"]:
        text += (f" Runner-up: {r['method']}, the most accurate at {_acc(r)}, {gap:.1f} points ahead: {real}; it "
                 f"would cost {_money(r['total_cost']['total'])}, so the cheaper method wins.")
    else:
        text += (f" Runner-up: {r['method']} at {_acc(r)}, total {_money(r['total_cost']['total'])}, "
                 f"{gap:.1f} points behind: {real}.")
    return text + f" Costs are counted work priced at {priced_at}."


def labels_sentence(task: str, target_method: str, estimates: dict[str, dict]) -> str:
    """"Prompt now; fine-tune after about N labels", per trained method, from the learning curve."""
    parts = []
    for m, e in estimates.items():
        if e["estimate"] is None:
            parts.append(f"{m} does not reach it within the curve's {e['largest']:,} rows")
        elif e["estimate"] == 0:
            parts.append(f"{m} already matches it at the curve's smallest point")
        else:
            hi = "beyond the curve" if e["high"] is None else f"{e['high']:,.0f}"
            lo = "—" if e["low"] is None else f"{e['low']:,.0f}"
            parts.append(f"{m} after about {e['estimate']:,.0f} labelled rows (interval {lo} to {hi})")
    return (f"**How many labels are enough on {task}** (to match {target_method}, the best prompting method): "
            + "; ".join(parts) + ".") if parts else ""
