import pytest

from stages.lib.config import Hardware
from stages.lib.summary import add_costs, break_even, collect, render_markdown

PROFILE = Hardware(about="test", hourly_price=2.0, flops_per_second=1e9)


def test_local_cost_is_counted_work_at_the_profile_and_ignores_measured_time():
    rows = add_costs([{"task": "t", "method": "m", "flops_per_sample": 1e9, "fit_flops": 3.6e12,
                       "throughput": 0.001, "fit_seconds": 1e6}], PROFILE, reference=None)
    # 1 s per sample at $2/h: $555.56 per million; fitting: 3,600 s = $2; the clock's figures play no part
    assert rows[0]["cost_per_million"] == pytest.approx(1e6 * 2 / 3600)
    assert rows[0]["upfront_cost"] == pytest.approx(2.0)


def test_break_even():
    # fine-tuning: $48 up front, $789/M; prompting: $0, $11,485/M (the study's figures)
    assert break_even(48, 789, 0, 11485) == pytest.approx(48 / (10696 / 1e6))
    assert break_even(48, 12000, 0, 11485) is None  # never pays back
    assert break_even(None, 1, 0, 2) is None


def test_report_with_missing_methods_invents_nothing(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    for kind, body in [("eval", {"n": 5, "train_rows": 9, "accuracy": 0.8,
                                 "accuracy_ci": {"low": 0.4, "high": 1.0}}),
                       ("timings", {"throughput": 100.0, "fit_seconds": 3.6})]:  # measured: not a cost
        (tmp_path / f"metrics/{kind}/t").mkdir(parents=True)
        (tmp_path / f"metrics/{kind}/t/baseline.json").write_text(json.dumps(body))
    rows = add_costs(collect(["t"], ["baseline", "zero_shot", "claude"]), PROFILE, reference="zero_shot")
    assert [r["method"] for r in rows] == ["baseline"]
    assert rows[0].get("upfront_cost") is None and rows[0].get("break_even") is None  # nothing counted: no cost
    table = render_markdown(rows)
    assert "80.0% [40.0–100.0%]" in table and "| 9 " in table  # interval and training rows shown
    assert "—" in table  # unmeasured cells are dashes, not zeros


def test_the_seed_spread_is_read_only_for_listed_seeds_and_sits_beside_the_first_seeds_interval(tmp_path,
                                                                                                   monkeypatch):
    import json

    from stages.lib.summary import add_seed_spread, render_seeds

    monkeypatch.chdir(tmp_path)
    for seed, acc in [(42, 0.60), (43, 0.50), (44, 0.55), (7, 0.10)]:  # 7: an earlier experiment's, not listed
        path = tmp_path / f"metrics/seeds/t/finetuned/{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"accuracy": acc}))
    rows = [{"task": "t", "method": "finetuned", "accuracy": 0.60, "accuracy_ci": {"low": 0.5, "high": 0.7}},
            {"task": "t", "method": "baseline", "accuracy": 0.58, "accuracy_ci": {"low": 0.48, "high": 0.68}},
            {"task": "u", "method": "finetuned", "accuracy": 0.3, "accuracy_ci": {"low": 0.2, "high": 0.4}}]
    add_seed_spread(rows, ["t", "u"], {"finetuned": [42, 43, 44], "finetuned_head": [42]})
    assert rows[0]["seed_accuracies"] == [0.60, 0.50, 0.55]
    assert rows[0]["seed_accuracy_mean"] == pytest.approx(0.55) and rows[0]["seed_accuracy_sd"] == pytest.approx(0.05)
    assert "seed_accuracies" not in rows[2]  # task u: its seeds were never trained, so nothing is claimed
    table = render_seeds(rows)
    row = "| t      | finetuned | 42, 43, 44 | 60.0% [50.0%–70.0%] | 55.0%  | 5.0 pts | 50.0%–60.0% | -3.0 pts"
    assert row in table
    assert render_seeds(rows[1:]) == ""  # no seed run, no table


def test_long_class_names_stay_distinct_ticks_and_a_zero_gap_reads_as_a_tie():
    from stages.lib.plots import short_labels
    from stages.lib.summary import verdict

    a = "Fractures and dislocations, unspecified, of the upper extremities, left side"
    b = "Fractures and dislocations, unspecified, of the upper extremities, right side"
    ticks = short_labels([a, b, "Cuts"])
    assert len(set(ticks)) == 3 and all(len(t) <= 45 for t in ticks) and ticks[2] == "Cuts"
    c = {"difference": 0.0, "difference_ci": {"low": -0.1, "high": 0.1}, "mcnemar_p": 1.0, "distinguishable": False}
    assert "finetuned is as accurate as cascade (interval" in verdict("t", "finetuned", "cascade", c)


def test_a_collapsed_method_is_named_on_validation_and_marked_in_the_table():
    from stages.lib.scoring import collapsed

    def row(true, pred):
        return {"true": {"y": true}, "pred": {"y": pred}}

    spread = ["a", "b", "c", "d"] * 5  # 20 rows, four classes
    assert collapsed([row(t, "a") for t in spread], ["y"]) == ["y"]  # one answer for every row
    assert collapsed([row(t, t) for t in spread], ["y"]) == []
    assert collapsed([row("a", "a")] * 19 + [row("b", "a")], ["y"]) == []  # the data are that lopsided too
    assert collapsed([row(t, "a") for t in spread[:8]], ["y"]) == []  # too few rows to say
    table = render_markdown([{"task": "t", "method": "finetuned", "accuracy": 0.5, "collapsed_fields": ["y"]},
                             {"task": "t", "method": "baseline", "accuracy": 0.6, "collapsed_fields": []}])
    assert "finetuned ⚠ collapsed" in table and "baseline ⚠" not in table
