"""How sure a figure is: seeded bootstrap confidence intervals, paired bootstrap differences and the exact McNemar
test. Vectorised over resamples (numpy), so 2,000 resamples of F1 cost milliseconds, not minutes."""
from __future__ import annotations

import numpy as np
from scipy.stats import binom


def resamples(n: int, count: int, seed: int) -> np.ndarray:
    """`count` bootstrap resamples of row indices (count x n); row 0 is the sample itself, so the point
    estimate and its interval come from the same code."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.arange(n)[None, :], rng.integers(0, n, size=(count, n))])


def encode(y_true: list[str], y_pred: list[str | None]) -> tuple[np.ndarray, np.ndarray, int]:
    """Classes of y_true as 0..K-1; a prediction outside them (or invalid) is K: it is wrong and never averaged."""
    classes = {c: i for i, c in enumerate(sorted(set(y_true)))}
    k = len(classes)
    return (np.array([classes[t] for t in y_true]), np.array([classes.get(p, k) for p in y_pred]), k)


def f1_per_resample(t: np.ndarray, p: np.ndarray, k: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Macro-F1 (over the classes present in each resample's truth) and support-weighted F1, per resample:
    F1 = 2·TP / (support + predicted), as scikit-learn computes it with zero_division=0."""
    b = idx.shape[0]
    tt, pp = t[idx], p[idx]
    base = (np.arange(b) * (k + 1))[:, None]
    count = lambda a: np.bincount(a.ravel(), minlength=b * (k + 1)).reshape(b, k + 1)[:, :k]  # noqa: E731
    tp = count((base + tt)[tt == pp])
    support, predicted = count(base + tt), count(base + pp)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    present = support > 0
    macro = (f1 * present).sum(1) / present.sum(1)
    weighted = (f1 * support).sum(1) / support.sum(1)
    return macro, weighted


def interval(values: np.ndarray, confidence: float) -> list[float]:
    """Percentile interval of the resampled values (row 0, the sample itself, excluded)."""
    lo, hi = np.percentile(values[1:], [50 * (1 - confidence), 50 * (1 + confidence)])
    return [float(lo), float(hi)]


def mcnemar_exact(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Two-sided exact McNemar p-value on paired right/wrong outcomes (a binomial test on the discordant rows)."""
    only_a, only_b = int((a_right & ~b_right).sum()), int((~a_right & b_right).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(only_a, only_b), only_a + only_b, 0.5)))
