"""The cascade's choices on validation rows: the threshold each rule picks, a part that dominates, and what the
combined rows cost and say."""
import numpy as np
import pytest

from stages.lib.config import Hardware
from stages.lib.escalation import choose_threshold, combine, cost_per_row, dominance

CONF = np.array([0.95, 0.9, 0.6, 0.5, 0.3])
CHEAP = np.array([1, 1, 0, 1, 0], bool)   # 60%
STRONG = np.array([1, 0, 1, 0, 1], bool)  # 60%; right exactly where the cheap one is unsure and wrong


def test_match_strong_takes_the_fewest_escalations_that_reach_the_strong_accuracy():
    got = choose_threshold(CONF, CHEAP, STRONG, 1e-6, 1e-4, "match_strong", None)
    assert got["threshold"] == 0.0 and got["escalated"] == 0  # the cheap method alone already reaches 60%
    strong = np.array([1, 1, 1, 1, 1], bool)
    got = choose_threshold(CONF, CHEAP, strong, 1e-6, 1e-4, "match_strong", None)
    assert got["threshold"] == 0.9 and got["accuracy"] == 1.0 and got["escalated"] == pytest.approx(0.6)
    never = np.zeros(5, bool)
    got = choose_threshold(CONF, never, strong, 1e-6, 1e-4, "match_strong", None)
    assert got["threshold"] == float("inf") and got["escalated"] == 1.0  # nothing less reaches it


def test_budget_takes_the_best_accuracy_within_the_cost():
    got = choose_threshold(CONF, CHEAP, STRONG, 0.0, 10e-6, "budget", 4.0)  # $10/1M strong: 40% escalated at most
    # escalating the two least confident rows (40%) gives 60%; only the least confident one, 80%
    assert (got["threshold"], got["escalated"], got["accuracy"]) == (0.5, 0.2, 0.8)
    with pytest.raises(Exception, match="no threshold keeps the cost within"):
        choose_threshold(CONF, CHEAP, STRONG, 1e-5, 1e-4, "budget", 1.0)


def test_a_part_that_is_as_accurate_and_no_dearer_dominates():
    assert dominance(0.8, 0.7, 1.0, 2.0) == "cheap"
    assert dominance(0.7, 0.8, 2.0, 1.0) == "strong"
    assert dominance(0.7, 0.8, 1.0, 2.0) is None


def test_combined_rows_pay_the_strong_method_on_escalated_rows_only():
    cheap = [{"id": i, "true": {"y": "a"}, "pred": {"y": "a"}, "raw": "a", "latency_s": 0.1, "input_tokens": 5,
              "output_tokens": 1, "confidence": {"y": 0.9}, "flops": 3.6e9} for i in "pq"]
    strong = [{"id": i, "true": {"y": "a"}, "pred": {"y": "b"}, "raw": "b", "latency_s": 2.0, "input_tokens": 50,
               "output_tokens": 3, "cost_usd": 0.001} for i in "pq"]
    rows = combine(cheap, strong, np.array([False, True]), 1e-6, strong_pays=True)
    assert [r["answered_by"] for r in rows] == ["cheap", "strong"] and rows[1]["pred"] == {"y": "b"}
    assert rows[0]["cost_usd"] == 1e-6 and rows[1]["cost_usd"] == pytest.approx(1e-6 + 0.001)
    assert rows[1]["latency_s"] == pytest.approx(2.1) and rows[0]["part_confidence"] == 0.9
    assert "confidence" not in rows[0]  # two parts' confidences are not one scale: never scored as one
    alone = combine(cheap, strong, np.array([True, True]), 1e-6, strong_pays=True, cheap_runs=False)
    assert alone[0]["cost_usd"] == 0.001 and alone[0]["latency_s"] == 2.0
    profile = Hardware(about="test", hourly_price=1.0, flops_per_second=1e9)
    assert cost_per_row(strong, profile) == 0.001  # the API's dollars for its usage
    assert cost_per_row(cheap, profile) == pytest.approx(0.001)  # 3.6e9 FLOPs: 3.6 s at 1 GFLOP/s, $1/h
    assert rows[1]["flops"] == pytest.approx(3.6e9)  # the cheap part ran on every row; the API counts dollars
    with pytest.raises(Exception, match="carries no counted work"):  # never a cost from the clock instead
        cost_per_row([{k: v for k, v in cheap[0].items() if k != "flops"}], profile)
