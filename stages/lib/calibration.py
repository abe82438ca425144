"""How far a method's confidence can be trusted: expected calibration error (ECE), the Brier score and the
risk-coverage curve (accuracy when answering only the most confident share of rows), each with a bootstrap interval
over the same resampled rows as accuracy, and the reliability diagram's bins.

A row's confidence is for its exact-match answer: the product of its fields' confidences where the method gives one
per field (probabilities: TF-IDF calibrated, the local model's constrained decoder, the head's softmax), else the
confidence an API model stated. Both are scored the same way, but only probabilities are probabilities: a stated
confidence is a statement whose calibration this measures. Top-label scores: ECE = sum over equal-width bins of
|sum of (confidence - correct)| / n; Brier = mean (confidence - correct)^2."""
from __future__ import annotations

import math

import numpy as np

from stages.lib.intervals import interval, resamples

BINS = 10
COVERAGES = (0.5, 0.8, 0.9, 1.0)


def row_confidence(prediction: dict, fields: list[str]) -> float | None:
    """The row's confidence in its whole answer, or None where the method gave none."""
    conf = prediction.get("confidence") or {}
    if conf and all(conf.get(f) is not None for f in fields):
        return math.prod(conf[f] for f in fields)
    return prediction.get("stated_confidence")


def kinds(predictions: list[dict]) -> list[str]:
    """What the rows' confidences are: exact, path, softmax, calibrated or stated (see each method)."""
    return sorted({p["confidence_kind"] for p in predictions if p.get("confidence_kind")})


def _ci(values: np.ndarray, confidence: float) -> dict:
    return dict(zip(("low", "high"), interval(values, confidence), strict=True))


def per_resample(conf: np.ndarray, correct: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """ECE, Brier and accuracy at each coverage, per resample of rows (row 0 of `idx`: the sample itself)."""
    b, n = idx.shape
    c, y = conf[idx], correct[idx].astype(float)
    bins = np.minimum((c * BINS).astype(int), BINS - 1) + (np.arange(b) * BINS)[:, None]
    gap = np.bincount(bins.ravel(), weights=(c - y).ravel(), minlength=b * BINS).reshape(b, BINS)
    out = {"ece": np.abs(gap).sum(1) / n, "brier": ((c - y) ** 2).mean(1)}
    order = np.argsort(-c, axis=1, kind="stable")  # most confident first; ties keep row order
    hits = np.cumsum(np.take_along_axis(y, order, 1), 1)
    for share in COVERAGES:
        m = max(1, math.ceil(share * n))
        out[f"coverage_{round(share * 100)}"] = hits[:, m - 1] / m
    return out


def reliability(conf: np.ndarray, correct: np.ndarray) -> list[dict]:
    """The reliability diagram's non-empty bins: mean confidence against accuracy, and how many rows."""
    bins = np.minimum((conf * BINS).astype(int), BINS - 1)
    return [{"bin_low": k / BINS, "bin_high": (k + 1) / BINS, "confidence": float(conf[bins == k].mean()),
             "accuracy": float(correct[bins == k].mean()), "rows": int((bins == k).sum())}
            for k in range(BINS) if (bins == k).any()]


def calibration(predictions: list[dict], fields: list[str], correct: np.ndarray, idx: np.ndarray,
                confidence: float, seed: int, val: tuple[list[dict], np.ndarray] | None = None,
                recalibration: str = "temperature", target: float = 0.9) -> tuple[dict, dict] | None:
    """(headline figures, details) for the rows that carry a confidence; None where no row does. The resamples are
    the accuracy's own (`idx`) when every row has one; else as many, seeded alike, over the rows that do (an
    invalid API answer states nothing). With `val` (validation predictions and their exact-match outcomes), the
    confidences are recalibrated on validation and the map applied unchanged to test (ECE, Brier and reliability
    again), and the threshold that reaches `target` accuracy on validation is applied to test (abstention)."""
    conf = [row_confidence(p, fields) for p in predictions]
    keep = np.array([c is not None for c in conf])
    if not keep.any():
        return None
    c, y = np.array([x for x in conf if x is not None], dtype=float), np.asarray(correct)[keep]
    if not keep.all():
        idx = resamples(len(c), idx.shape[0] - 1, seed)
    values = per_resample(c, y, idx)
    headline = {"calibration_rows": int(keep.sum())}
    for name in ("ece", "brier"):
        headline[name], headline[f"{name}_ci"] = float(values[name][0]), _ci(values[name], confidence)
    coverage = {k.split("_")[1]: v for k, v in values.items() if k.startswith("coverage_")}
    headline["accuracy_at_coverage"] = {k: float(v[0]) for k, v in coverage.items()}
    headline["accuracy_at_coverage_ci"] = {k: _ci(v, confidence) for k, v in coverage.items()}
    details = {"confidence_kinds": kinds(predictions), "bins": BINS, "reliability": reliability(c, y)}
    val_conf = [] if val is None else [row_confidence(p, fields) for p in val[0]]
    val_keep = np.array([v is not None for v in val_conf], dtype=bool)
    if val_keep.sum() >= 2:  # recalibrated on validation, scored on test rows it never saw
        vc, vy = np.array([v for v in val_conf if v is not None], dtype=float), np.asarray(val[1])[val_keep]
        fit = fit_recalibration(vc, vy, recalibration)
        rc = recalibrate(c, fit)
        again = per_resample(rc, y, idx)
        for name in ("ece", "brier"):
            headline[f"{name}_recalibrated"] = float(again[name][0])
            headline[f"{name}_recalibrated_ci"] = _ci(again[name], confidence)
        headline["target_accuracy"] = target
        if (t := threshold_for(recalibrate(vc, fit), vy, target)) is not None:
            headline |= abstention(rc, y, t, idx, confidence)
        details |= {"recalibration": fit, "reliability_recalibrated": reliability(rc, y)}
    return headline, details


# -- recalibration on validation, abstention ------------------------------------------------------------------------

EPS = 1e-6


def fit_recalibration(conf: np.ndarray, correct: np.ndarray, method: str) -> dict:
    """A monotone map from confidence to probability of being right, fitted on validation rows only:
    `temperature`, one scale T on the confidence's logit (p' = sigmoid(logit(p) / T), T by binary log-loss over a
    log-spaced grid); `isotonic`, the pool-adjacent-violators fit (a non-decreasing step function)."""
    y = correct.astype(float)
    if method == "temperature":
        z = np.log(np.clip(conf, EPS, 1 - EPS) / (1 - np.clip(conf, EPS, 1 - EPS)))
        grid = np.exp(np.linspace(np.log(0.05), np.log(20), 401))
        p = np.clip(1 / (1 + np.exp(-z[None, :] / grid[:, None])), EPS, 1 - EPS)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(1)
        return {"method": method, "temperature": float(grid[int(np.argmin(loss))]), "val_rows": len(conf)}
    order = np.argsort(conf, kind="stable")
    blocks: list[list[float]] = []  # [sum of y, rows, lowest x, highest x]
    for x, v in zip(conf[order], y[order], strict=True):
        blocks.append([v, 1.0, x, x])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, n, lo, _ = blocks.pop(-2)
            blocks[-1] = [blocks[-1][0] + s, blocks[-1][1] + n, lo, blocks[-1][3]]
    xs, ys = [], []
    for s, n, lo, hi in blocks:
        xs += [lo, hi]
        ys += [s / n, s / n]
    return {"method": method, "x": [float(v) for v in xs], "y": [float(v) for v in ys], "val_rows": len(conf)}


def recalibrate(conf: np.ndarray, fit: dict) -> np.ndarray:
    if fit["method"] == "temperature":
        z = np.log(np.clip(conf, EPS, 1 - EPS) / (1 - np.clip(conf, EPS, 1 - EPS)))
        return 1 / (1 + np.exp(-z / fit["temperature"]))
    return np.interp(conf, fit["x"], fit["y"])  # flat beyond the fitted range


def threshold_for(conf: np.ndarray, correct: np.ndarray, target: float) -> float | None:
    """On validation: the lowest confidence threshold whose answered rows (confidence >= it) reach `target`
    accuracy, i.e. the most rows answered; None where no threshold does."""
    order = np.argsort(-conf, kind="stable")
    c, y = conf[order], correct[order].astype(float)
    acc = np.cumsum(y) / np.arange(1, len(y) + 1)
    last_of_tie = np.r_[c[1:] != c[:-1], True]  # a threshold answers every row tied with it
    ok = np.flatnonzero((acc >= target - 1e-12) & last_of_tie)
    return float(c[ok[-1]]) if len(ok) else None


def abstention(conf: np.ndarray, correct: np.ndarray, threshold: float, idx: np.ndarray,
               confidence: float) -> dict:
    """Test coverage and accuracy of the rows answered at `threshold`, with intervals over the same resamples."""
    answered = conf[idx] >= threshold
    y = correct[idx].astype(float)
    coverage = answered.mean(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = (y * answered).sum(1) / answered.sum(1)
    out = {"threshold": threshold, "coverage_at_target": float(coverage[0]), "coverage_at_target_ci":
           _ci(coverage, confidence)}
    if answered[0].any():
        finite = acc[np.isfinite(acc)]
        out |= {"accuracy_at_target": float(acc[0]),
                "accuracy_at_target_ci": dict(zip(("low", "high"), interval(finite, confidence), strict=True))}
    return out
