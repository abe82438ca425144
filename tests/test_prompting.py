import random

from stages.lib.fewshot import mine_errors, pick_examples
from stages.lib.methods.llm import PromptClassifier
from stages.lib.templates import answer_text, with_examples, zero_shot
from tests.conftest import record

LABELS = {"y": ["Amputations", "Cuts", "Fractures"]}


def test_zero_shot_prompt_is_the_studys():
    p = zero_shot(LABELS, "OSHA injury report")
    assert p["system"].startswith(
        "You are an expert at classifying OSHA injury reports into the following categories:"
    )
    assert "Amputations\nCuts\nFractures" in p["system"] and p["system"].endswith(
        "Answer with ONLY the name of the category."
    )
    multi = zero_shot({"a": ["x"], "b": ["y"]}, "report")
    assert '{"a": "<one of the a categories>", "b": "<one of the b categories>"}' in multi["system"]


def test_answer_text_single_and_json():
    assert answer_text({"y": "Cuts"}) == "Cuts"
    assert answer_text({"a": "x", "b": "y"}) == '{"a": "x", "b": "y"}'


def test_few_shot_uses_validation_errors_and_training_examples_only():
    train = [record(f"tr{i}", f"train {i}", y=lb) for i, lb in enumerate(["Cuts", "Fractures", "Cuts", "Amputations"])]
    test_ids = {"te1", "te2"}
    val_preds = [
        {"id": "v1", "true": {"y": "Cuts"}, "pred": {"y": "Fractures"}},
        {"id": "v2", "true": {"y": "Cuts"}, "pred": {"y": None}},
        {"id": "v3", "true": {"y": "Fractures"}, "pred": {"y": "Cuts"}},
        {"id": "v4", "true": {"y": "Amputations"}, "pred": {"y": "Amputations"}},
    ]
    mined = mine_errors(val_preds, ["y"], top=5)
    assert [(m["label"], m["errors"]) for m in mined] == [("Cuts", 2), ("Fractures", 1)]
    examples = pick_examples(mined, train, per_class=1, rng=random.Random(0))
    assert {e["id"] for e in examples} <= {r["id"] for r in train} and not {e["id"] for e in examples} & test_ids
    prompt = with_examples(zero_shot(LABELS, "report"), examples)
    assert "Question: train" in prompt["system"] and "Answer: Cuts" in prompt["system"]


class EchoBackend:
    """Records what the classifier asked for."""

    def truncate(self, text, max_tokens, system):
        return text, False

    def describe(self):
        return {"provider": "echo"}

    def classify(self, system, texts, fields, labels, user_prefixes=None):
        self.prefixes = user_prefixes
        return [{"pred": {f: labels[f][0] for f in fields}, "raw": "", "input_tokens": 1, "output_tokens": 1,
                 "latency_s": 0.0} for _ in texts]

    def generate(self, system, texts, user_prefixes=None, max_new_tokens=None):
        return [{"raw": "fractures.", "input_tokens": 1, "output_tokens": 1, "latency_s": 0.0} for _ in texts]


def test_knn_examples_come_from_train_only():
    train = [record("tr1", "fell from ladder", y="Fractures"), record("tr2", "cut finger with knife", y="Cuts")]
    test = [record("te1", "fell from a tall ladder", y="Fractures")]
    backend = EchoBackend()
    clf = PromptClassifier(zero_shot(LABELS, "r"), backend, mode="constrained", knn=1).fit(train, [])
    clf.predict(test)
    assert "fell from ladder" in backend.prefixes[0] and "tall" not in backend.prefixes[0].split("Question:")[0]


def test_generate_mode_parses_strictly():
    clf = PromptClassifier(zero_shot(LABELS, "r"), EchoBackend(), mode="generate")
    assert clf.predict([record(1, "x", y="Fractures")])[0]["pred"] == {"y": "Fractures"}


def test_nearest_neighbours_in_chunks_are_todays_on_the_shipped_sample():
    """Chunked and partitioned selection picks exactly what the full sort picked, ties to the smaller id included
    (the training rows query themselves too, so every row has at least one exact tie candidate)."""
    import pandas as pd
    from sklearn.metrics.pairwise import linear_kernel

    from tests.conftest import ROOT

    df = pd.read_csv(ROOT / "data/raw/osha_sample.csv", dtype=str, keep_default_na=False)
    rows = [{"id": i, "text": t, "labels": {}} for i, t in zip(df["ID"], df["Final Narrative"], strict=True)]
    train, test = rows[:640], rows[640:] + rows[:100]
    clf = PromptClassifier({"system": "", "fields": ["y"], "labels": LABELS, "examples": []}, None,
                           mode="constrained", knn=3).fit(train, [])
    index = clf.retriever_
    sims = linear_kernel(index.vectorizer_.transform([r["text"] for r in test]), index.matrix_)
    full_sort = [[train[j] for j in reversed(sorted(range(len(row)), key=lambda j: (-row[j], train[j]["id"]))[:3])]
                 for row in sims]
    assert clf.neighbours(test, chunk=37) == (full_sort, [0.0] * len(test))  # TF-IDF's work is not counted


def test_mined_few_shot_pays_for_the_validation_run_it_mined():
    prompt = {"system": "s", "fields": ["y"], "labels": LABELS, "examples": [{"text": "t", "answer": "Cuts"}] * 5,
              "mined_from": {"split": "val", "labelled_rows": 160, "seconds": 12.5, "cost_usd": None}}
    clf = PromptClassifier(prompt, None, mode="constrained").fit([], [])
    assert clf.train_rows_ == 5 + 160 and clf.fit_seconds_ >= 12.5 and clf.fit_cost_usd_ is None
    on_claude = PromptClassifier({**prompt, "mined_from": {**prompt["mined_from"], "cost_usd": 0.42}}, None,
                                 mode="constrained").fit([], [])
    assert on_claude.fit_cost_usd_ == 0.42

    from stages.lib.config import Hardware
    from stages.lib.summary import add_costs

    profile = Hardware(about="test", hourly_price=1.0, flops_per_second=1e9)
    rows = add_costs([{"task": "t", "method": "zero_shot", "flops_per_sample": 1e8, "fit_flops": 0.0},
                      {"task": "t", "method": "few_shot", "flops_per_sample": 1e8, "fit_flops": 3.6e12},
                      {"task": "t", "method": "few_shot_claude", "cost_per_million": 100.0, "fit_seconds": 9.0,
                       "fit_cost_usd": 0.42}], profile, reference="zero_shot")
    assert rows[1]["upfront_cost"] == 1.0 and rows[2]["upfront_cost"] == 0.42  # counted work, or API dollars
