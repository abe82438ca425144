"""Calibration figures against their textbook definitions, computed row by row: ECE over equal-width bins, the
Brier score, accuracy at a coverage, the reliability bins; and which confidence a row carries."""
import math

import numpy as np
import pytest

from stages.lib.calibration import BINS, calibration, per_resample, reliability, row_confidence
from stages.lib.intervals import resamples
from stages.lib.scoring import score_predictions

RNG = np.random.default_rng(3)
CONF = RNG.uniform(0.05, 1.0, 200)
CORRECT = RNG.uniform(size=200) < CONF ** 2  # over-confident on purpose: ECE well above 0


def naive_ece(c, y):
    total = 0.0
    for k in range(BINS):
        rows = [i for i in range(len(c)) if min(int(c[i] * BINS), BINS - 1) == k]
        if rows:
            total += len(rows) / len(c) * abs(np.mean([c[i] for i in rows]) - np.mean([y[i] for i in rows]))
    return total


def naive_coverage(c, y, share):
    ranked = sorted(range(len(c)), key=lambda i: -c[i])[: max(1, math.ceil(share * len(c)))]
    return np.mean([y[i] for i in ranked])


def test_every_resample_equals_the_textbook_figures_row_by_row():
    idx = resamples(len(CONF), 20, seed=5)
    got = per_resample(CONF, CORRECT, idx)
    for r in range(idx.shape[0]):
        c, y = CONF[idx[r]], CORRECT[idx[r]].astype(float)
        assert got["ece"][r] == pytest.approx(naive_ece(c, y))
        assert got["brier"][r] == pytest.approx(np.mean((c - y) ** 2))
        for share in (0.5, 0.8, 0.9, 1.0):
            assert got[f"coverage_{round(share * 100)}"][r] == pytest.approx(naive_coverage(c, y, share))
    assert got["coverage_100"][0] == pytest.approx(CORRECT.mean()) and got["ece"][0] > 0.1


def test_a_perfectly_confident_right_answer_and_the_reliability_bins():
    got = per_resample(np.ones(4), np.ones(4, bool), resamples(4, 3, 0))
    assert got["ece"][0] == 0 and got["brier"][0] == 0
    bins = reliability(np.array([0.05, 0.15, 0.12, 1.0]), np.array([0, 1, 0, 1], bool))
    assert [(b["bin_low"], b["rows"], b["accuracy"]) for b in bins] == [(0.0, 1, 0.0), (0.1, 2, 0.5), (0.9, 1, 1.0)]
    assert bins[1]["confidence"] == pytest.approx(0.135)


def test_a_rows_confidence_is_the_product_over_fields_or_else_what_was_stated():
    assert row_confidence({"confidence": {"a": 0.5, "b": 0.8}}, ["a", "b"]) == pytest.approx(0.4)
    assert row_confidence({"stated_confidence": 0.7}, ["a"]) == 0.7
    assert row_confidence({"confidence": {"a": 0.5}}, ["a", "b"]) is None  # one field has none: none for the row
    assert row_confidence({}, ["a"]) is None


def test_scoring_adds_calibration_only_where_rows_carry_a_confidence():
    preds = [{"true": {"y": "a"}, "pred": {"y": "a" if i % 3 else "b"}, "latency_s": 1, "input_tokens": 1,
              "output_tokens": 1, "confidence": {"y": 0.9}, "confidence_kind": "exact"} for i in range(30)]
    meta = {"predict_seconds": 1, "fit_seconds": 0, "train_rows": 1}
    m, details, _ = score_predictions(preds, {"y": ["a", "b"]}, meta, 200, 0.95, 0)
    assert m["ece"] == pytest.approx(abs(0.9 - 20 / 30)) and m["calibration_rows"] == 30
    assert m["ece_ci"]["low"] <= m["ece"] <= m["ece_ci"]["high"]
    assert m["accuracy_at_coverage"]["100"] == pytest.approx(m["accuracy"])
    assert details["calibration"]["confidence_kinds"] == ["exact"]
    for p in preds:
        del p["confidence"]
    m, details, _ = score_predictions(preds, {"y": ["a", "b"]}, meta, 200, 0.95, 0)
    assert "ece" not in m and "calibration" not in details  # not measured: absent


def test_rows_without_a_stated_confidence_are_left_out_and_counted():
    preds = [{"stated_confidence": 0.8} if i % 2 else {} for i in range(10)]
    head, _ = calibration(preds, ["y"], np.array([1] * 10, bool), resamples(10, 50, 0), 0.95, 0)
    assert head["calibration_rows"] == 5 and head["ece"] == pytest.approx(0.2)


def test_recalibration_is_fitted_on_validation_and_helps_on_fresh_rows_of_the_same_kind():
    from stages.lib.calibration import fit_recalibration, recalibrate

    rng = np.random.default_rng(11)
    shapes = {"temperature": lambda c: 1 / (1 + np.exp(-np.log(c / (1 - c)) / 3)),  # over-confident by T=3
              "isotonic": lambda c: c ** 2}  # any monotone shape
    idx = resamples(400, 0, 0)
    for method, truth in shapes.items():
        def draw(n, truth=truth):
            c = rng.uniform(0.02, 0.98, n)
            return c, rng.uniform(size=n) < truth(c)
        (vc, vy), (tc, ty) = draw(400), draw(400)
        fit = fit_recalibration(vc, vy, method)
        after = recalibrate(tc, fit)
        assert np.all(np.diff(after[np.argsort(tc)]) >= -1e-12)  # monotone: the ranking of rows is kept
        assert per_resample(after, ty, idx)["ece"][0] < per_resample(tc, ty, idx)["ece"][0] / 2
        if method == "temperature":
            assert 2 < fit["temperature"] < 4.5  # over-confidence is softened by about its own factor


def test_the_threshold_is_the_lowest_that_reaches_the_target_on_validation_and_ties_go_together():
    from stages.lib.calibration import abstention, threshold_for

    conf = np.array([0.9, 0.8, 0.8, 0.7, 0.6])
    right = np.array([1, 1, 0, 1, 0], bool)
    assert threshold_for(conf, right, 1.0) == 0.9  # 0.8 answers both tied rows: 2/3
    assert threshold_for(conf, right, 0.75) == 0.7  # 3 of 4
    assert threshold_for(conf, np.zeros(5, bool), 0.5) is None
    got = abstention(conf, right, 0.8, resamples(5, 100, 0), 0.95)
    assert got["coverage_at_target"] == pytest.approx(0.6) and got["accuracy_at_target"] == pytest.approx(2 / 3)
    assert got["coverage_at_target_ci"]["low"] <= 0.6 <= got["coverage_at_target_ci"]["high"]


def test_scoring_recalibrates_on_validation_rows_and_reports_the_abstention_on_test():
    rng = np.random.default_rng(2)
    def rows(n):
        c = rng.uniform(0.5, 1.0, n)
        return [{"true": {"y": "a"}, "pred": {"y": "a" if rng.uniform() < x ** 3 else "b"}, "latency_s": 1,
                 "input_tokens": 1, "output_tokens": 1, "confidence": {"y": float(x)}} for x in c]
    meta = {"predict_seconds": 1, "fit_seconds": 0, "train_rows": 1}
    test, val = rows(300), rows(200)
    m, d, _ = score_predictions(test, {"y": ["a", "b"]}, meta, 200, 0.95, 0, val, "isotonic", 0.8)
    assert m["ece_recalibrated"] < m["ece"] and d["calibration"]["recalibration"]["val_rows"] == 200
    assert m["target_accuracy"] == 0.8 and 0 < m["coverage_at_target"] < 1
    assert m["accuracy_at_target_ci"]["low"] <= m["accuracy_at_target"] <= m["accuracy_at_target_ci"]["high"]
    m, _, _ = score_predictions(test, {"y": ["a", "b"]}, meta, 200, 0.95, 0)
    assert "ece_recalibrated" not in m and "coverage_at_target" not in m  # no validation rows: not measured
