import pytest

from stages.lib.scoring import evaluate
from stages.lib.parsing import parse_answer

LABELS = {"N": ["Cuts, lacerations", "Cuts, lacerations, unspecified", "Fractures"], "P": ["Hand", "Leg"]}


@pytest.mark.parametrize("answer, expected", [
    ("Fractures", "Fractures"),
    ("  fractures.\n", "Fractures"),
    ("Answer: **Fractures**", "Fractures"),
    ('"Cuts,  lacerations"', "Cuts, lacerations"),
    ("Cuts", None),  # never a prefix match to whichever "Cuts…" sorts first
    ("Fractures of the leg", None),
    ("", None),
    ("The category is Fractures", None),
])
def test_single_label(answer, expected):
    assert parse_answer(answer, ["N"], LABELS) == {"N": expected}


@pytest.mark.parametrize("answer, expected", [
    ('{"N": "Fractures", "P": "Leg"}', {"N": "Fractures", "P": "Leg"}),
    ('Sure! {"N": "fractures", "P": "Leg", "extra": 1} done', {"N": "Fractures", "P": "Leg"}),
    ('{"N": "Fractures"}', {"N": "Fractures", "P": None}),
    ('{"N": "Broken", "P": "Hand"}', {"N": None, "P": "Hand"}),
    ('{"N": "Fractures", "P": ', {"N": None, "P": None}),
    ("no json", {"N": None, "P": None}),
])
def test_json_answers(answer, expected):
    assert parse_answer(answer, ["N", "P"], LABELS) == expected


def test_metrics_count_invalid_and_exact_match():
    preds = [
        {"true": {"N": "Fractures", "P": "Leg"}, "pred": {"N": "Fractures", "P": "Leg"}, "latency_s": 1.0, "input_tokens": 10},
        {"true": {"N": "Fractures", "P": "Hand"}, "pred": {"N": "Fractures", "P": "Leg"}, "latency_s": 3.0, "input_tokens": 20},
        {"true": {"N": "Cuts, lacerations", "P": "Hand"}, "pred": {"N": None, "P": "Hand"}, "latency_s": 2.0, "input_tokens": None},
    ]
    m = evaluate(preds, LABELS, {"predict_seconds": 6.0})
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["fields"]["N"]["accuracy"] == pytest.approx(2 / 3)
    assert m["fields"]["N"]["invalid_rate"] == pytest.approx(1 / 3)
    assert m["invalid_rate"] == pytest.approx(1 / 3)
    assert m["throughput"] == pytest.approx(0.5) and m["latency_s"] == pytest.approx(2.0)
    assert m["input_tokens"] == pytest.approx(15)
    assert "<invalid>" not in m["fields"]["N"]["per_class"]
    assert m["fields"]["N"]["per_class"]["Fractures"]["recall"] == 1.0
