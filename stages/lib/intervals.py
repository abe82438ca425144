"""How sure a figure is: seeded bootstrap confidence intervals, paired bootstrap differences and the exact McNemar
test. Vectorised over resamples (numpy), so 2,000 resamples of F1 cost milliseconds, not minutes."""
from __future__ import annotations

from math import comb

import numpy as np


def resamples(n: int, count: int, seed: int) -> np.ndarray:
    """`count` bootstrap resamples of row indices (count x n); row 0 is the sample itself, so the point
    estimate and its interval come from the same code."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.arange(n)[None, :], rng.integers(0, n, size=(count, n))])


def encode(y_true: list[str], y_pred: list[str | None]) -> tuple[np.ndarray, np.ndarray, int]:
    """The classes of y_true and of the valid predictions as 0..K-1; an invalid prediction (None) is K: it is wrong
    and is not a class."""
    classes = {c: i for i, c in enumerate(sorted(set(y_true) | {p for p in y_pred if p is not None}))}
    k = len(classes)
    return (np.array([classes[t] for t in y_true]), np.array([classes.get(p, k) for p in y_pred]), k)


def f1_per_resample(t: np.ndarray, p: np.ndarray, k: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Macro-F1 and support-weighted F1, per resample, as scikit-learn computes them (zero_division=0): macro over
    every class that is true or predicted in the resample (a class predicted but absent from the truth counts,
    with F1 0), F1 = 2·TP / (support + predicted)."""
    b = idx.shape[0]
    tt, pp = t[idx], p[idx]
    base = (np.arange(b) * (k + 1))[:, None]
    count = lambda a: np.bincount(a.ravel(), minlength=b * (k + 1)).reshape(b, k + 1)[:, :k]  # noqa: E731
    tp = count((base + tt)[tt == pp])
    support, predicted = count(base + tt), count(base + pp)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    present = denom > 0
    macro = (f1 * present).sum(1) / present.sum(1)
    weighted = (f1 * support).sum(1) / support.sum(1)
    return macro, weighted


def interval(values: np.ndarray, confidence: float) -> list[float]:
    """Percentile interval of the resampled values (row 0, the sample itself, excluded)."""
    lo, hi = np.percentile(values[1:], [50 * (1 - confidence), 50 * (1 + confidence)])
    return [float(lo), float(hi)]


def holm(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given: the family-wise error rate stays at the level a
    single test would have, however many comparisons a task makes."""
    m, order = len(p_values), sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def mcnemar_exact(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Two-sided exact McNemar p-value on paired right/wrong outcomes (a binomial test on the discordant rows)."""
    only_a, only_b = int((a_right & ~b_right).sum()), int((~a_right & b_right).sum())
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(only_a, only_b) + 1))  # exact integers: no scipy at start-up
    return float(min(1.0, 2 * tail / 2**n))
