"""Scoring predictions: accuracy and F1s with bootstrap intervals, per-class report, invalid rate, speed and
tokens; paired comparisons with Holm's adjustment. Figures are drawn elsewhere (`confusion`, `plots`)."""
from __future__ import annotations

import re
import statistics

import numpy as np

from stages.lib.calibration import calibration
from stages.lib.intervals import encode, f1_per_resample, holm, interval, mcnemar_exact, resamples

INVALID = "<invalid>"
# A method has collapsed on a field when at least this share of its validation answers is one class while the
# true labels are not that lopsided (a majority-class classifier in disguise, as an under-trained fine-tuning is).
COLLAPSE_SHARE = 0.9
COLLAPSE_MIN_ROWS = 10  # fewer validation rows say nothing either way


def collapsed(val_predictions: list[dict], fields: list[str]) -> list[str]:
    """The fields whose validation answers put nearly every row in one class (`COLLAPSE_SHARE`) while the data
    have several."""
    out = []
    for f in fields:
        pred = [(p["pred"] or {}).get(f) for p in val_predictions]
        true = [p["true"][f] for p in val_predictions]
        if len(pred) < COLLAPSE_MIN_ROWS:
            continue
        share = max(pred.count(v) for v in set(pred)) / len(pred)
        if share >= COLLAPSE_SHARE and max(true.count(v) for v in set(true)) / len(true) < COLLAPSE_SHARE:
            out.append(f)
    return out


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def field_metrics(y_true: list[str], y_pred: list[str | None], labels: list[str], idx: np.ndarray,
                  confidence: float) -> tuple[dict, dict[str, np.ndarray]]:
    """One label field's figures with their intervals, and the per-resample values behind them."""
    t, p, k = encode(y_true, y_pred)
    values = {"accuracy": (t[idx] == p[idx]).mean(1)}
    values["macro_f1"], values["weighted_f1"] = f1_per_resample(t, p, k, idx)
    classes = sorted(set(labels) | set(y_true))
    pr, rc, f1, sup = per_class(y_true, y_pred, classes)
    out = {name: float(v[0]) for name, v in values.items()}
    out |= {
        f"{name}_ci": dict(zip(("low", "high"), interval(v, confidence), strict=True)) for name, v in values.items()
    }
    out["invalid_rate"] = sum(x is None for x in y_pred) / len(y_pred)
    out["per_class"] = {c: {"precision": pr[i], "recall": rc[i], "f1": f1[i], "support": int(sup[i])}
                        for i, c in enumerate(classes) if sup[i] or pr[i]}
    return out, values


def per_class(y_true: list[str], y_pred: list[str | None], classes: list[str]) -> tuple[np.ndarray, ...]:
    """Precision, recall, F1 and support of each class, as scikit-learn's `precision_recall_fscore_support`
    (zero_division=0) gives them (a test checks it), without importing scikit-learn: evaluate starts in a second."""
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    t = np.array([index[x] for x in y_true])
    p = np.array([index.get(x, k) if x is not None else k for x in y_pred])  # k: invalid or outside the classes
    support, predicted = np.bincount(t, minlength=k + 1)[:k], np.bincount(p, minlength=k + 1)[:k]
    tp = np.bincount(t[t == p], minlength=k + 1)[:k]
    div = lambda a, b: np.divide(a, b, out=np.zeros(k), where=b > 0)  # noqa: E731
    return div(tp, predicted), div(tp, support), div(2 * tp, support + predicted), support


def exact_match(predictions: list[dict], fields: list[str]) -> np.ndarray:
    """Per row: every label field right (= plain correctness for one field)."""
    return np.array([all((p["pred"] or {}).get(f) == p["true"][f] for f in fields) for p in predictions])


def score_predictions(predictions: list[dict], labels: dict[str, list[str]], meta: dict, bootstrap: int,
                      confidence: float, seed: int, val_predictions: list[dict] | None = None,
                      recalibration: str = "temperature", target_accuracy: float = 0.9) -> tuple[dict, dict, dict]:
    """(headline, details, timings). Headline: exact-match accuracy over all fields, macro/weighted F1 averaged
    over fields, each with a seeded bootstrap interval (the same resampled rows for every figure), the calibration
    of the method's confidences where it gives them (`calibration`), invalid rate,
    training rows, counted work (FLOPs per sample, and up front), and, for API methods, dollars per million from the
    API's usage fields. Details: per field and per class. Timings: measured speed and tokens, which change with the
    machine and its load, and so stay out of the headline (and out of every choice)."""
    fields, n = list(labels), len(predictions)
    idx = resamples(n, bootstrap, seed)
    details, per_field = {}, []
    for f in fields:
        details[f], values = field_metrics([p["true"][f] for p in predictions],
                                           [(p["pred"] or {}).get(f) for p in predictions], labels[f], idx, confidence)
        per_field.append(values)
    exact = exact_match(predictions, fields)
    values = {"accuracy": exact[idx].mean(1),
              "macro_f1": np.mean([v["macro_f1"] for v in per_field], axis=0),
              "weighted_f1": np.mean([v["weighted_f1"] for v in per_field], axis=0)}
    headline = {"n": n, "train_rows": meta["train_rows"]}
    for name, v in values.items():
        headline[name], headline[f"{name}_ci"] = (
            float(v[0]),
            dict(zip(("low", "high"), interval(v, confidence), strict=True)),
        )
    details = {"fields": details}
    val = None if val_predictions is None else (val_predictions, exact_match(val_predictions, fields))
    if scored := calibration(predictions, fields, exact, idx, confidence, seed, val, recalibration, target_accuracy):
        headline |= scored[0]
        details["calibration"] = scored[1]
    if val_predictions is not None:  # a majority-class answerer in disguise: warned by the stage, marked in the report
        headline["collapsed_fields"] = collapsed(val_predictions, fields)
    headline["truncated_rows"] = sum(bool(p.get("truncated")) for p in predictions)
    headline["invalid_rate"] = sum(p["pred"] is None or any(v is None for v in p["pred"].values())
                                   for p in predictions) / n
    if refused := sum("refusal" in p for p in predictions):  # Claude declined: invalid, but counted apart
        headline["refusal_rate"] = refused / n
    if any(p.get("cost_usd") is not None for p in predictions):  # from the API's usage; local costs: the report
        headline["cost_per_million"] = _mean(p.get("cost_usd") for p in predictions) * 1e6
    # counted work (stages/lib/counting.py), which the report prices: the same on any machine, under any load
    flops = [p.get("flops") for p in predictions]
    headline["flops_per_sample"] = None if not flops or None in flops else float(np.mean(flops))
    headline["fit_flops"] = meta.get("fit_flops")
    seconds = meta["predict_seconds"]
    timings = {
        "latency_s": _mean(p["latency_s"] for p in predictions),
        "throughput": n / seconds if seconds else None,
        "input_tokens": _mean(p["input_tokens"] for p in predictions),
        "output_tokens": _mean(p["output_tokens"] for p in predictions),
        "fit_seconds": meta["fit_seconds"],
        "fit_cost_usd": meta.get("fit_cost_usd"),  # dollars an API model spent before the first prediction
        "predict_seconds": seconds,
    }
    if meta.get("adapter"):  # a fine-tuned model: the precision of the base it was trained and scored on
        timings["recipe"] = recipe_label(meta)
    if meta.get("recipe_search"):  # its recipe chosen on validation: every candidate's score, and the choice
        timings["recipe_search"], timings["recipe_chosen"] = meta["recipe_search"], meta["recipe_chosen"]
    return headline, details, timings


def recipe_label(meta: dict) -> str:
    """A fine-tuned row's recipe as the report names it: LoRA on the fp32 base or QLoRA on the 4-bit one, and the
    autocast it trained in (the generative adapter is then merged and scored in the model's own dtype, the head
    scores under the same autocast)."""
    label = "QLoRA 4-bit" if meta.get("base_precision") == "nf4" else "LoRA fp32"
    if autocast := meta.get("autocast") or meta.get("train_autocast"):
        return f"{label}, {dict(bfloat16='bf16', float16='fp16').get(autocast, autocast)} autocast"
    return label


def correct_rows(predictions: list[dict], fields: list[str]) -> dict:
    """The rows' ids and their exact-match outcomes as one string of 0/1: a few kB that git tracks, so two commits'
    results can be compared row by row without their predictions."""
    return {"ids": [p["id"] for p in predictions],
            "correct": "".join("1" if c else "0" for c in exact_match(predictions, fields))}


def paired(reference: list[dict], other: list[dict], fields: list[str], bootstrap: int, confidence: float,
           seed: int) -> dict:
    """The reference method against another on the same test rows: the difference in exact-match accuracy with a
    paired bootstrap interval (both resampled with the same rows), and the exact McNemar p-value."""
    by_id = {p["id"]: p for p in other}
    if set(by_id) != {p["id"] for p in reference}:
        raise ValueError("paired comparison needs predictions for the same test rows")
    return paired_outcomes(exact_match(reference, fields), exact_match([by_id[p["id"]] for p in reference], fields),
                           bootstrap, confidence, seed)


def paired_outcomes(a: np.ndarray, b: np.ndarray, bootstrap: int, confidence: float, seed: int) -> dict:
    """`paired` on two aligned arrays of right/wrong outcomes: accuracy of a minus b, its paired bootstrap
    interval and the exact McNemar p."""
    idx = resamples(len(a), bootstrap, seed)
    diff = a[idx].mean(1) - b[idx].mean(1)
    ci = interval(diff, confidence)
    p = mcnemar_exact(a, b)
    return {"n": len(a), "difference": float(diff[0]), "difference_ci": {"low": ci[0], "high": ci[1]},
            "only_reference_right": int((a & ~b).sum()), "only_other_right": int((~a & b).sum()), "mcnemar_p": p}


def adjust_family(comparisons: dict[str, dict], confidence: float) -> dict[str, dict]:
    """One task's paired comparisons as a family: Holm-adjusted McNemar p beside the raw one, and the verdict
    from the adjusted p (and an interval that excludes 0)."""
    names = list(comparisons)
    adjusted = holm([comparisons[m]["mcnemar_p"] for m in names])
    out = {}
    for m, p_adj in zip(names, adjusted, strict=True):
        c, ci = comparisons[m], comparisons[m]["difference_ci"]
        out[m] = {**c, "mcnemar_p_holm": p_adj,
                  "distinguishable": bool(p_adj < 1 - confidence and (ci["low"] > 0 or ci["high"] < 0))}
    return out

