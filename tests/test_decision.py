"""The decision: which method, under the user's constraints, ranked by total cost of ownership; the runner-up and
its paired verdict; and how many labels a trained method needs to match prompting."""
import numpy as np
import pytest

from stages.lib.config import Decision
from stages.lib.decision import backtest, break_evens, decide, labels_to_match, pareto, total_cost
from stages.lib.decision_text import paragraph

D = Decision(volume_per_month=1000, horizon_months=12, label_cost=0.5, min_accuracy=None, max_cost_per_million=None,
             allow_api=True)


def row(method, acc, cpm, rows=0, upfront=0.0, api=False, **extra):
    return {"method": method, "accuracy": acc, "accuracy_ci": {"low": acc - 0.05, "high": acc + 0.05},
            "cost_per_million": cpm, "train_rows": rows, "upfront_cost": upfront, "api": api, **extra}


def outcomes(n, right):
    """n test rows, the first `right` right."""
    return np.arange(n) < right


def run(rows, right, d=D, n=400):
    return decide("t", rows, {m: outcomes(n, k) for m, k in right.items()}, d, 500, 0.95, 0)


def test_total_cost_is_labels_plus_upfront_plus_volume_times_cost():
    t = total_cost(row("ft", 0.8, cpm=100.0, rows=200, upfront=3.0), D)
    assert t == {"labels": 100.0, "upfront": 3.0, "running": pytest.approx(1.2), "total": pytest.approx(104.2)}


def test_a_real_gap_makes_the_most_accurate_method_the_choice():
    rows = [row("tfidf", 0.50, 0.01, rows=500), row("ft", 0.80, 30.0, rows=256, upfront=1.0)]
    dec = run(rows, {"tfidf": 200, "ft": 320})
    assert dec["choice"]["method"] == "ft" and dec["runner_up"]["method"] == "tfidf"
    assert dec["runner_up"]["verdict"]["distinguishable"]
    assert "use **ft**" in paragraph(dec, "a test profile") and "a real gap" in paragraph(dec, "a test profile")


def test_the_cheapest_wins_when_nothing_is_distinguishable_from_it():
    # the most accurate is 1 point ahead on the same rows: noise. The cheaper in total is the choice.
    rows = [row("zero", 0.70, 30.0, rows=0), row("ft", 0.71, 30.0, rows=256, upfront=1.0)]
    dec = run(rows, {"zero": 280, "ft": 284})
    assert dec["choice"]["method"] == "zero" and dec["most_accurate"] == "ft"
    assert dec["runner_up"]["method"] == "ft" and not dec["runner_up"]["verdict"]["distinguishable"]
    assert "so the cheaper method wins" in paragraph(dec, "x")
    assert [e["method"] for e in dec["ranking"]] == ["zero", "ft"]  # by total cost


def test_none_meets_the_floor_says_so_and_what_abstention_gives():
    d = Decision(**{**D.__dict__, "min_accuracy": 0.95})
    rows = [row("tfidf", 0.60, 0.01, rows=500, coverage_at_target=0.3, target_accuracy=0.9,
                coverage_at_target_ci={"low": 0.2, "high": 0.4}, accuracy_at_target=0.91),
            row("ft", 0.80, 30.0, rows=256)]
    dec = run(rows, {"tfidf": 240, "ft": 320}, d)
    assert dec["choice"] is None and set(dec["excluded"]) == {"tfidf", "ft"}
    assert dec["abstention"]["method"] == "tfidf" and dec["abstention"]["coverage"] == 0.3
    text = paragraph(dec, "x")
    assert "no method meets the constraints" in text and "answers 30% of rows at the 90%" in text


def test_api_methods_are_left_out_when_not_allowed_and_a_price_cap_filters():
    d = Decision(**{**D.__dict__, "allow_api": False, "max_cost_per_million": 50.0})
    rows = [row("claude", 0.9, 40.0, api=True), row("ft", 0.8, 30.0, rows=10), row("big", 0.85, 80.0)]
    dec = run(rows, {"claude": 360, "ft": 320, "big": 340}, d)
    assert dec["choice"]["method"] == "ft" and "API" in dec["excluded"]["claude"] and "over" in dec["excluded"]["big"]


def test_pareto_and_break_even():
    rows = [row("cheap", 0.5, 1.0, rows=0), row("good", 0.8, 10.0, rows=100), row("bad", 0.4, 20.0)]
    assert pareto(rows) == ["cheap", "good"]
    d = Decision(**{**D.__dict__, "label_cost": 0.0})
    # 'up' pays $10 up front and saves $9 per million: they cross at 10 / 9e-6 classifications
    even = break_evens([row("up", 0.8, 1.0, upfront=10.0), row("none", 0.8, 10.0)], d)
    assert even == [{"methods": ["up", "none"], "volume": pytest.approx(10 / 9e-6)}]


CURVE = [{"train_rows": n, "accuracy": a, "accuracy_low": a - 0.1, "accuracy_high": a + 0.1}
         for n, a in [(32, 0.2), (128, 0.4), (512, 0.6)]]


def test_labels_to_match_interpolates_in_log_rows_with_an_interval_from_the_bands():
    e = labels_to_match(CURVE, 0.5)
    assert e["estimate"] == pytest.approx(256)  # halfway between 128 and 512 in log rows
    assert e["low"] == pytest.approx(128) and e["high"] == pytest.approx(512)  # the upper and lower bands
    never = labels_to_match(CURVE, 0.9)
    assert never["estimate"] is None and never["largest"] == 512
    assert labels_to_match(CURVE, 0.1)["estimate"] == 0.0  # already at the smallest point


def test_the_estimator_is_checked_on_the_largest_point():
    b = backtest(CURVE)
    assert b["predicted"] == pytest.approx(0.6) and b["error"] == pytest.approx(0.0)  # a straight line in log rows
    assert backtest(CURVE[:2]) is None
