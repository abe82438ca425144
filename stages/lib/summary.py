"""The comparison table: one row per task x method, from the metrics files alone.

A column is a (key, header, format) triple; a value that was not measured stays None and renders as "—". A figure
with an interval (`<key>_ci` in the row) renders as `72.3% [65.1–79.0]`.
"""
from __future__ import annotations

from tabulate import tabulate

from stages.lib import counting, paths
from stages.lib.config import Params
from stages.lib.files import atomic_path, read_json

COLUMNS = [
    ("task", "task", "{}"),
    ("method", "method", "{}"),
    ("train_rows", "train rows", "{}"),
    ("n", "test n", "{}"),
    ("accuracy", "accuracy [CI]", "{:.1%}"),
    ("macro_f1", "macro-F1 [CI]", "{:.3f}"),
    ("weighted_f1", "weighted-F1", "{:.3f}"),
    ("invalid_rate", "invalid", "{:.1%}"),
    ("latency_s", "s/sample", "{:.3f}"),
    ("throughput", "samples/s", "{:.2f}"),
    ("input_tokens", "in tok/sample", "{:.0f}"),
    ("output_tokens", "out tok/sample", "{:.1f}"),
    ("cost_per_million", "$ / 1M", "{:,.2f}"),
    ("upfront_cost", "up-front $", "{:,.4f}"),
    ("break_even", "break-even vs {reference}", "{:,.0f}"),
]
WITH_INTERVAL = ("accuracy", "macro_f1")


def break_even(upfront_a: float | None, per_million_a: float | None, upfront_b: float | None,
               per_million_b: float | None) -> float | None:
    """Classifications after which A's extra up-front cost is paid back by its cheaper inference than B's.
    None when not computable or never (A is not cheaper per classification)."""
    if None in (upfront_a, per_million_a, upfront_b, per_million_b) or per_million_a >= per_million_b:
        return None
    return max(upfront_a - upfront_b, 0) / ((per_million_b - per_million_a) / 1e6)


def add_costs(rows: list[dict], profile, reference: str | None) -> list[dict]:
    """Counted cost, never measured time (stages/lib/counting.py): a local method's counted FLOPs per sample priced
    at the hardware `profile`; an API method keeps the dollars its usage fields priced (`cost_per_million`). Up
    front: the counted work of fitting (fine-tuning: every training and validation pass; mined few-shot: the
    zero-shot validation run it mined) at the profile, plus what an API spent on it (`fit_cost_usd`).
    `break_even` counts against `reference` (zero-shot: the method that needs no labels)."""
    for r in rows:
        if r.get("cost_per_million") is None and r.get("flops_per_sample") is not None:
            r["cost_per_million"] = counting.price(r["flops_per_sample"], profile) * 1e6
        if r.get("upfront_cost") is None and (r.get("fit_flops") is not None or r.get("fit_cost_usd") is not None):
            r["upfront_cost"] = counting.price(r.get("fit_flops") or 0.0, profile) + (r.get("fit_cost_usd") or 0.0)
    by_key = {(r["task"], r["method"]): r for r in rows}
    for r in rows:
        ref = by_key.get((r["task"], reference))
        if ref is not None and r is not ref:
            r["break_even"] = break_even(r.get("upfront_cost"), r["cost_per_million"], ref.get("upfront_cost"),
                                         ref.get("cost_per_million"))
    return rows


def collect(tasks: list[str], methods: list[str]) -> list[dict]:
    """Rows for every task x method whose metrics exist (headline and timings); missing runs are simply absent."""
    rows = []
    for task in tasks:
        for method in methods:
            if paths.eval_metrics(task, method).exists():
                details = paths.eval_details(task, method)
                kinds = ((read_json(details).get("calibration") or {}).get("confidence_kinds")
                         if details.exists() else None)
                rows.append({"task": task, "method": method, **read_json(paths.eval_metrics(task, method)),
                             **read_json(paths.eval_timings(task, method)),
                             **({"confidence_kinds": kinds} if kinds else {})})
    return rows


def add_seed_spread(rows: list[dict], tasks: list[str], seeds: dict[str, list[int]]) -> list[dict]:
    """Each fine-tuning row of `tasks` whose every seed was trained (`seeds`: method -> its seeds) gains the mean,
    sample standard deviation and range of test accuracy across them (`seed_accuracy_*`). Files of seeds no
    longer listed are not read."""
    import statistics

    for r in rows:
        if r["task"] not in tasks or r["method"] not in seeds:
            continue
        files = [paths.seed_point(r["task"], r["method"], s) for s in seeds[r["method"]]]
        if not all(f.exists() for f in files):
            continue
        acc = [read_json(f)["accuracy"] for f in files]
        r.update(seeds=seeds[r["method"]], seed_accuracies=acc, seed_accuracy_mean=statistics.fmean(acc),
                 seed_accuracy_sd=statistics.stdev(acc) if len(acc) > 1 else None)
    return rows


def render_seeds(rows: list[dict], against: str = "baseline") -> str:
    """The spread across training seeds beside the first seed's bootstrap interval, and the gap to `against`."""
    by_key = {(r["task"], r["method"]): r for r in rows}
    table = []
    for r in rows:
        if "seed_accuracies" not in r:
            continue
        ref = by_key.get((r["task"], against))
        sd = r["seed_accuracy_sd"]
        gap = None if ref is None else r["seed_accuracy_mean"] - ref["accuracy"]
        table.append([r["task"], r["method"], ", ".join(map(str, r["seeds"])),
                      f"{r['accuracy']:.1%} [{r['accuracy_ci']['low']:.1%}–{r['accuracy_ci']['high']:.1%}]",
                      f"{r['seed_accuracy_mean']:.1%}", "—" if sd is None else f"{sd * 100:.1f} pts",
                      f"{min(r['seed_accuracies']):.1%}–{max(r['seed_accuracies']):.1%}",
                      "—" if gap is None else f"{gap * 100:+.1f} pts"])
    if not table:
        return ""
    return ("Across training seeds (same recipe, same rows, same test rows; the table above and the paired verdicts "
            "use the first seed):\n\n"
            + tabulate(table, headers=["task", "method", "seeds", "first seed [CI]", "mean", "sd", "range",
                                       f"mean − {against}"], tablefmt="github", disable_numparse=True))


def render_search(rows: list[dict]) -> str:
    """Each fine-tuned row whose recipe was chosen on validation (`recipe.search`): every candidate's validation
    loss, the chosen one marked; their training is in the row's up-front cost."""
    table = []
    for r in rows:
        for c in r.get("recipe_search") or []:
            setting = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("val_loss", "epochs", "train_seconds"))
            chosen = all(r["recipe_chosen"].get(k) == v for k, v in c.items() if k in r["recipe_chosen"])
            table.append([r["task"], r["method"], setting, f"{c['val_loss']:.4f}", f"{c['epochs']:g}",
                          "✓" if chosen else ""])
    if not table:
        return ""
    return ("Recipes chosen on validation (`recipe.search`; the lowest validation loss is kept, and every candidate's "
            "training counts in the up-front cost; the test rows are never used):\n\n"
            + tabulate(table, headers=["task", "method", "candidate", "validation loss", "epochs", "chosen"],
                       tablefmt="github", disable_numparse=True))


def render_calibration(rows: list[dict], image_dir: str | None = None) -> str:
    """How far each method's confidence can be trusted, on test rows: ECE (as given, and recalibrated on validation)
    and Brier with intervals, the accuracy when only the most confident share of rows is answered (the risk-coverage
    curve), and the share of test rows answered at the threshold that reached the target accuracy on validation."""
    def ci(r, key, fmt="{:.3f}", ci_key=None):
        if r.get(key) is None:
            return "—"
        c = r[ci_key or f"{key}_ci"]
        return f"{fmt.format(r[key])} [{fmt.format(c['low'])}–{fmt.format(c['high'])}]"

    table, target = [], None
    for r in rows:
        if "ece" not in r:
            continue
        target = r.get("target_accuracy", target)
        at, at_ci = r["accuracy_at_coverage"], r["accuracy_at_coverage_ci"]
        abstain = ("not reached on validation" if "target_accuracy" in r and "coverage_at_target" not in r else
                   "—" if "coverage_at_target" not in r else
                   ci(r, "coverage_at_target", "{:.0%}") + (f", accuracy {r['accuracy_at_target']:.1%}"
                                                             if "accuracy_at_target" in r else ""))
        table.append([r["task"], r["method"], ", ".join(r.get("confidence_kinds") or []) or "—", ci(r, "ece"),
                      ci(r, "ece_recalibrated"), ci(r, "brier_recalibrated") if "brier_recalibrated" in r
                      else ci(r, "brier")]
                     + [f"{at[k]:.1%} [{at_ci[k]['low']:.1%}–{at_ci[k]['high']:.1%}]" for k in ("50", "80", "90")]
                     + [abstain])
    if not table:
        return ""
    return ("**How far each confidence can be trusted** (test rows; recalibration and thresholds fitted on validation "
            "rows only): calibration error (ECE, 10 equal-width bins) of each row's confidence in its whole answer, "
            "as the method gives it and recalibrated; Brier score (recalibrated where possible); accuracy when only "
            "the most confident 50%, 80% and 90% of rows are answered; and the share of test rows answered at the "
            f"threshold that reached {target or 0:.0%} accuracy on validation (the rest go to a person). Confidence: "
            "`exact` (the decoder's whole label distribution), `path` (the chosen label's probability under the "
            "constrained decoder), `softmax` (the head), `calibrated` (TF-IDF, Platt-scaled by cross-validation on "
            "train), `stated` (an API model's own 0–100, not a probability):\n\n"
            + tabulate(table, headers=["task", "method", "confidence", "ECE [CI]", "ECE recalibrated [CI]",
                                       "Brier [CI]", "acc @50% [CI]", "acc @80% [CI]", "acc @90% [CI]",
                                       "answered at target [CI]"], tablefmt="github", disable_numparse=True)
            + ("" if image_dir is None else "\n\n" + " ".join(  # the reliability diagrams (plots.write_reliability)
                f"![reliability {t}]({image_dir}/reliability_{t}.png)" for t in dict.fromkeys(r[0] for r in table))))


def render_cascade(rows: list[dict], tasks: list[str], method: str = "cascade") -> str:
    """Per task, what the cascade is and buys: its parts, the threshold chosen on validation, the escalated share
    of test rows, accuracy and $ per million against each part, and the paired verdict against each."""
    by_key = {(r["task"], r["method"]): r for r in rows}
    lines = []
    for task in tasks:
        if not paths.cascade(task).exists() or (task, method) not in by_key:
            continue
        c = read_json(paths.cascade(task))

        def figure(m, task=task):
            r = by_key.get((task, m)) or {}
            cost = r.get("cost_per_million")
            return (f"{r['accuracy']:.1%}" if "accuracy" in r else "—") + (f" at ${cost:,.2f}/1M" if cost else "")

        how = (f"reduces to {c['reduces_to']}: it " + ("dominates on validation (at least as accurate, no dearer)"
                                                          if c["why"] == "dominates on validation" else
                                                          f"is all that is left ({c['why']})")
               if c["reduces_to"] else
               f"threshold {c['threshold']:.3g}, chosen on {c['val_rows']} validation rows ({c['rule']})")
        verdicts = "; ".join(f"vs {m} {v['difference'] * 100:+.1f} pts, Holm p={v['mcnemar_p_holm']:.3g}"
                             + (" (distinguishable)" if v["distinguishable"] else "")
                             for m, v in c["against"].items())
        lines.append(f"- **{task}**: {c['cheap']} → {c['strong']}: {how}; escalates {c['escalated_test']:.0%} of "
                     f"test rows. Cascade {figure(method)}; {c['cheap']} {figure(c['cheap'])}; {c['strong']} "
                     f"{figure(c['strong'])}. Paired on test: {verdicts}.")
    if not lines:
        return ""
    return ("**Both, at a threshold: the cascade.** The cheap method answers and rows under the threshold go to the "
            "strong one; the threshold is chosen on validation rows and applied unchanged to test (accuracy, $ per "
            "million classifications):\n\n" + "\n".join(lines))


def comparisons(tasks: list[str]) -> list[str]:
    """The paired comparisons, one plain sentence each."""
    lines = []
    for task in tasks:
        if paths.comparison(task).exists():
            c = read_json(paths.comparison(task))
            lines += [verdict(task, c["reference"], m, x) for m, x in c["against"].items()]
    return lines


def verdict(task: str, reference: str, method: str, c: dict) -> str:
    """One comparison in plain words."""
    d, ci = c["difference"], c["difference_ci"]
    side = "more accurate than" if d > 0 else "less accurate than" if d < 0 else "as accurate as"
    gap = f"{abs(d) * 100:.1f} points {side}" if d else side
    head = (f"{task}: {reference} is {gap} {method} "
            f"(interval {ci['low'] * 100:+.1f} to {ci['high'] * 100:+.1f} points), McNemar p={c['mcnemar_p']:.3g}"
            + (f", Holm-adjusted p={c['mcnemar_p_holm']:.3g}" if "mcnemar_p_holm" in c else ""))
    return head + (" — distinguishable from noise." if c["distinguishable"] else " — not distinguishable from noise.")


def machine() -> str:
    """This machine in words, without importing torch (reporting runs no model): its architecture, the CPUs this
    process may use, and the GPU nvidia-smi sees."""
    import os
    import platform
    import shutil
    import subprocess

    gpu = (subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                          text=True).stdout.strip().splitlines() if shutil.which("nvidia-smi") else [])
    return f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPU threads" + (f", {gpu[0]}" if gpu else ", no GPU")


def render_markdown(rows: list[dict], reference: str | None = None, columns=COLUMNS) -> str:
    """The comparison table; `reference`: the method break-even counts are against (see `add_costs`)."""

    def cell(row, key, fmt):
        value = row.get(key)
        if key == "method":  # the fine-tuning recipe beside its method (LoRA or QLoRA), and a collapse marked
            return (f"{value} ({row['recipe']})" if row.get("recipe") else value) + (
                " ⚠ collapsed" if row.get("collapsed_fields") else "")
        if value is None:
            return "—"
        text = fmt.format(value)
        if key in WITH_INTERVAL and row.get(f"{key}_ci"):
            ci = row[f"{key}_ci"]
            text += f" [{fmt.format(ci['low']).rstrip('%')}–{fmt.format(ci['high'])}]"
        return text

    table = [[cell(r, k, fmt) for k, _, fmt in columns] for r in rows]
    headers = [h.format(reference=reference or "the reference") for _, h, _ in columns]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def render_curve(task: str, curves: dict[str, list[dict]], flat: str | None) -> str:
    """The learning curve as a table: one row per method, accuracy [interval] at each number of training rows;
    `flat` (zero-shot) once."""
    if not curves:
        return ""
    sizes = sorted({p["train_rows"] for m, pts in curves.items() if m != flat for p in pts})
    table = []
    for method, pts in sorted(curves.items()):
        if method == flat:
            p = pts[0]
            table.append([method] + [f"{p['accuracy']:.1%}" if i == 0 else "″" for i in range(len(sizes))])
            continue
        at = {p["train_rows"]: p for p in pts}
        table.append([method] + [f"{at[s]['accuracy']:.1%} [{at[s]['accuracy_low']:.1%}–{at[s]['accuracy_high']:.1%}]"
                                 if s in at else "—" for s in sizes])
    return (f"Learning curve on `{task}` (test accuracy [interval] by labelled training rows):\n\n"
            + tabulate(table, headers=["method", *map(str, sizes)], tablefmt="github", disable_numparse=True))


def update_readme(path: str, table: str, params: Params) -> None:
    """Replace the README's results section with the report, so the README never carries hand-typed numbers."""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if start not in text or end not in text:  # a README without the markers is left alone
        return
    body = (f"{start}\nMeasured by `dvc repro` on {machine()}; base model `{params.base_model}`, prompted model "
            f"`{params.model}`. Written by the `report` stage from `metrics/summary.json`.\n\n{table}\n{end}")
    before, rest = text.split(start, 1)
    with atomic_path(path) as tmp:
        tmp.write_text(before + body + rest.split(end, 1)[1], encoding="utf-8")
