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
    rows = add_costs(collect(["t"], ["baseline", "zero_shot", "claude"]), hourly_price=2.0)
    assert [r["method"] for r in rows] == ["baseline"]
    assert rows[0]["upfront_cost"] == pytest.approx(0.002) and rows[0].get("break_even") is None
    table = render_markdown(rows)
    assert "80.0% [40.0–100.0%]" in table and "| 9 " in table  # interval and training rows shown
    assert "—" in table  # unmeasured cells are dashes, not zeros
