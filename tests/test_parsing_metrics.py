import pytest

from stages.lib.parsing import parse_answer
from stages.lib.scoring import recipe_label, score_predictions

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
        {
            "true": {"N": "Fractures", "P": "Leg"},
            "pred": {"N": "Fractures", "P": "Leg"},
            "latency_s": 1.0,
            "input_tokens": 10,
            "output_tokens": 1,
        },
        {
            "true": {"N": "Fractures", "P": "Hand"},
            "pred": {"N": "Fractures", "P": "Leg"},
            "latency_s": 3.0,
            "input_tokens": 20,
            "output_tokens": 1,
        },
        {
            "true": {"N": "Cuts, lacerations", "P": "Hand"},
            "pred": {"N": None, "P": "Hand"},
            "latency_s": 2.0,
            "input_tokens": None,
            "output_tokens": 1,
        },
    ]
    m, details, timings = score_predictions(preds, LABELS, {"predict_seconds": 6.0, "fit_seconds": 0.0,
                                                            "train_rows": 7}, bootstrap=200, confidence=0.95, seed=0)
    assert m["accuracy"] == pytest.approx(1 / 3) and m["train_rows"] == 7 and m["n"] == 3
    assert 0 <= m["accuracy_ci"]["low"] <= m["accuracy"] <= m["accuracy_ci"]["high"] <= 1
    assert details["fields"]["N"]["accuracy"] == pytest.approx(2 / 3)
    assert details["fields"]["N"]["invalid_rate"] == pytest.approx(1 / 3)
    assert m["invalid_rate"] == pytest.approx(1 / 3)
    assert timings["throughput"] == pytest.approx(0.5) and timings["latency_s"] == pytest.approx(2.0)
    assert timings["input_tokens"] == pytest.approx(15)
    assert "<invalid>" not in details["fields"]["N"]["per_class"]
    assert details["fields"]["N"]["per_class"]["Fractures"]["recall"] == 1.0
    assert "cost_per_million" not in m and "throughput" not in m  # not measured: absent; timings: apart


@pytest.mark.parametrize("meta, expected", [
    ({"base_precision": "float32"}, "LoRA fp32"),
    ({"base_precision": "bfloat16", "train_autocast": "bfloat16"}, "LoRA fp32, bf16 autocast"),
    ({"base_precision": "float32", "autocast": "bfloat16"}, "LoRA fp32, bf16 autocast"),
    ({"base_precision": "nf4", "train_autocast": None}, "QLoRA 4-bit"),
])
def test_recipe_label_names_the_precision_trained_and_scored_in(meta, expected):
    assert recipe_label(meta) == expected


def test_confusion_svg_draws_every_count_and_label(tmp_path):
    import xml.dom.minidom

    from stages.lib.confusion import confusion_svg

    rows = ([{"actual": "Cuts & <lacerations>", "predicted": "Fractures"}] * 3
            + [{"actual": "Fractures", "predicted": "Fractures"}] * 2
            + [{"actual": "Fractures", "predicted": "(invalid)"}])
    confusion_svg(rows, tmp_path / "c.svg", "t · m · NatureTitle")
    doc = xml.dom.minidom.parse(str(tmp_path / "c.svg"))  # well-formed: labels are escaped
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text")]
    assert len(doc.getElementsByTagName("rect")) == 1 + 3 * 3  # background and one cell per (actual, predicted)
    counts = sorted(int(t) for t in texts if t.isdigit())
    assert counts == [0, 0, 0, 0, 0, 0, 1, 2, 3] and sum(counts) == len(rows)
    assert {"Cuts & <lacerations>", "Fractures", "(invalid)", "Predicted label", "True label"} <= set(texts)
