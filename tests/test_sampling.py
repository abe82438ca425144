from collections import Counter
from dataclasses import replace

import pytest

from stages.lib.config import Split, Task
from stages.lib.errors import PipelineError
from stages.lib.sampling import label_space, render_text, sample_task, stratified_split

FRACTIONS = Split(val=0.16, test=0.2, seed=0)


def records(counts):
    out, i = [], 0
    for label, n in counts.items():
        for _ in range(n):
            out.append({"id": f"{i:04d}", "fields": {"t": f"text {i}"}, "labels": {"y": label, "z": label[0]}})
            i += 1
    return out


def test_split_is_stratified_seeded_and_disjoint():
    rows = records({"A": 50, "B": 25, "C": 2, "D": 1})
    a = stratified_split(rows, "y", replace(FRACTIONS, seed=1))
    assert a == stratified_split(rows, "y", replace(FRACTIONS, seed=1))
    assert a != stratified_split(rows, "y", replace(FRACTIONS, seed=2))
    ids = [r["id"] for s in a.values() for r in s]
    assert sorted(ids) == sorted(r["id"] for r in rows)
    assert Counter(r["labels"]["y"] for r in a["test"]) == {"A": 10, "B": 5}
    assert Counter(r["labels"]["y"] for r in a["val"]) == {"A": 8, "B": 4}
    # too small to stratify: kept whole in train
    assert Counter(r["labels"]["y"] for r in a["train"])["C"] == 2


def test_balanced_takes_top_n_by_train_with_equal_counts():
    splits = stratified_split(records({"A": 60, "B": 40, "C": 30, "D": 5}), "y", FRACTIONS)
    out = sample_task(splits, Task(dataset="d", labels=["y"], sampling="balanced", top_n=3), seed=0)
    for split in out.values():
        counts = Counter(r["labels"]["y"] for r in split)
        assert set(counts) == {"A", "B", "C"} and len(set(counts.values())) == 1


def test_imbalanced_filters_on_train_counts_and_keeps_skew():
    splits = stratified_split(records({"A": 60, "B": 20, "C": 4}), "y", FRACTIONS)
    out = sample_task(splits, Task(dataset="d", labels=["y"], sampling="imbalanced", min_count=5), seed=0)
    assert Counter(r["labels"]["y"] for r in out["train"]) == {"A": 38, "B": 13}
    assert label_space(out["train"], ["y"]) == {"y": ["A", "B"]}


def test_multitask_keeps_both_labels():
    splits = stratified_split(records({"Aa": 30, "Bb": 30}), "y", FRACTIONS)
    out = sample_task(splits, Task(dataset="d", labels=["y", "z"], sampling="imbalanced", min_count=1), seed=0)
    assert out["test"][0]["labels"].keys() == {"y", "z"}


def test_multi_field_rendering_is_deterministic():
    assert render_text({"Narrative": "fell", "State": "TX"}) == "Narrative: fell\nState: TX"
    assert render_text({"Narrative": "fell"}) == "fell"


def test_empty_split_is_refused():
    splits = stratified_split(records({"A": 60}), "y", FRACTIONS)
    with pytest.raises(PipelineError, match="left split"):
        sample_task(splits, Task(dataset="d", labels=["y"], sampling="imbalanced", min_count=1000), seed=0)
