import pytest

from stages.lib.summary import add_costs, break_even, collect, local_cost_per_million, render_markdown


def test_local_cost_per_million():
    assert local_cost_per_million(10.0, 1.0) == pytest.approx(1e6 / 10 / 3600)
    assert local_cost_per_million(None, 1.0) is None


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
                       ("timings", {"throughput": 100.0, "fit_seconds": 3.6})]:
        (tmp_path / f"metrics/{kind}/t").mkdir(parents=True)
        (tmp_path / f"metrics/{kind}/t/baseline.json").write_text(json.dumps(body))
    rows = add_costs(collect(["t"], ["baseline", "zero_shot", "claude"]), hourly_price=2.0, reference="zero_shot")
    assert [r["method"] for r in rows] == ["baseline"]
    assert rows[0]["upfront_cost"] == pytest.approx(0.002) and rows[0].get("break_even") is None
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
