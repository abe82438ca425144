"""`python -m stages.classify` on good and bad files, in a small project of its own (TF-IDF: no model needed)."""
import csv
import dataclasses
import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LABELS = ["Amputations", "Fractures"]
TEXT = {"Amputations": "finger amputated by the saw blade", "Fractures": "fell from the ladder and broke a leg"}


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path)
    task = tmp_path / "data/tasks/imbalanced"
    task.mkdir(parents=True)
    for split, n in [("train", 12), ("val", 4), ("test", 4)]:
        with open(task / f"{split}.jsonl", "w") as f:
            for i in range(n):
                label = LABELS[i % 2]
                f.write(json.dumps({"id": f"{split}{i}", "text": f"{TEXT[label]} case {i}",
                                    "labels": {"NatureTitle": label}}) + "\n")
    (task / "labels.json").write_text(json.dumps({"NatureTitle": LABELS}))
    return tmp_path


def classify(project, content: bytes, method="baseline"):
    (project / "in.csv").write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "stages.classify", "--task", "imbalanced", "--method", method,
                           "--input", "in.csv", "--output", "out.csv"], cwd=project, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    rows = list(csv.DictReader(open(project / "out.csv"))) if (project / "out.csv").exists() else None
    return proc, rows


def test_good_file_one_row_per_input_and_refusals_say_why(project):
    content = (b"ID,Final Narrative,Other\r\n1,the saw blade took a finger,x\r\n2,\"he fell from a ladder\r\nand broke"
               b" his leg\",y\r\n3,   ,z\r\n1,duplicate row,w\r\n")
    proc, rows = classify(project, content)
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in rows] == ["1", "2", "3", "1"]
    assert rows[0]["NatureTitle"] == "Amputations" and rows[1]["NatureTitle"] == "Fractures"
    assert all(r["method"] == "baseline" for r in rows)
    assert (rows[2]["NatureTitle"], rows[2]["error"]) == ("", "empty text")  # never a guessed label
    assert rows[3]["NatureTitle"] in LABELS and rows[3]["error"] == ""  # a repeated id is still a row to classify
    assert not (project / "out.csv.partial").exists()
    meta = json.loads((project / "out.csv.meta.json").read_text())  # what answered, as the pipeline records it
    assert meta["method"] == "baseline" and meta["model"] == "tfidf+linear_svc" and meta["rows"] == 4


@pytest.mark.parametrize("content, message", [
    (b"ID,Narrative\n1,x\n", "in.csv: missing column(s) 'Final Narrative' required by datasets.osha"),
    (b"ID,Final Narrative\n1,caf\xe9\n", "in.csv: line 2: not UTF-8"),
    (b"", "in.csv: file is empty"),
    (b"ID,Final Narrative\n", "in.csv: has a header but no rows"),
])
def test_bad_files_are_refused_with_one_line_and_no_output(project, content, message):
    proc, rows = classify(project, content)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert rows is None


def partial_key(project, monkeypatch, **params_change):
    from stages.lib.config import load_params
    from stages.lib.new_data import run_key

    monkeypatch.chdir(project)  # the key covers the base model and adapter at the project's own paths
    params = load_params(project / "params.yaml")
    for section, value in params_change.items():
        params = dataclasses.replace(params, **{section: dataclasses.replace(getattr(params, section), **value)})
    return run_key(params, "in.csv", "imbalanced", "baseline")


CONTENT = b"ID,Final Narrative\n1,the saw blade took a finger\n2,fell from a ladder\n"


def test_an_interrupted_run_resumes_without_redoing_finished_rows(project, monkeypatch):
    (project / "in.csv").write_bytes(CONTENT)
    key = partial_key(project, monkeypatch)
    # a previous run finished row 1 (with an answer this run would not give) before it was interrupted
    (project / "out.csv.partial").write_text(json.dumps({"key": key}) + "\n"
                                             + json.dumps({"row": 0, "pred": {"NatureTitle": "Fractures"}}) + "\n")
    proc, rows = classify(project, CONTENT)
    assert proc.returncode == 0, proc.stderr
    assert [r["NatureTitle"] for r in rows] == ["Fractures", "Fractures"]  # row 1 kept, not redone
    assert "1 done before" in proc.stderr


def test_a_partial_from_other_settings_is_not_resumed(project, monkeypatch):
    """After `-S model=...`, a retrain or another method param, the old chunks are not mixed into the output."""
    (project / "in.csv").write_bytes(CONTENT)
    key = partial_key(project, monkeypatch, claude={"max_usd": 1.0})
    assert key != partial_key(project, monkeypatch)
    (project / "out.csv.partial").write_text(json.dumps({"key": key}) + "\n"
                                             + json.dumps({"row": 0, "pred": {"NatureTitle": "Fractures"}}) + "\n")
    proc, rows = classify(project, CONTENT)
    assert proc.returncode == 0, proc.stderr
    assert [r["NatureTitle"] for r in rows] == ["Amputations", "Fractures"] and "0 done before" in proc.stderr
    adapter = project / "models/adapters/imbalanced"
    adapter.mkdir(parents=True)
    before = partial_key(project, monkeypatch)
    (adapter / "adapter_model.safetensors").write_bytes(b"retrained")
    assert partial_key(project, monkeypatch) != before  # a retrained adapter is another run


def test_a_line_cut_short_by_a_kill_is_dropped_and_redone(project, monkeypatch):
    (project / "in.csv").write_bytes(CONTENT)
    key = partial_key(project, monkeypatch)
    (project / "out.csv.partial").write_text(json.dumps({"key": key}) + "\n"
                                             + json.dumps({"row": 0, "pred": {"NatureTitle": "Fractures"}}) + "\n"
                                             + '{"row": 1, "pred": {"Natu')  # killed mid-write
    proc, rows = classify(project, CONTENT)
    assert proc.returncode == 0, proc.stderr
    assert [r["NatureTitle"] for r in rows] == ["Fractures", "Fractures"] and "1 done before" in proc.stderr


def test_every_row_carries_its_confidence_and_min_confidence_abstains_below_it(project):
    content = b"ID,Final Narrative\n1,the saw blade took a finger\n2,fell from a ladder\n3,a report of nothing\n"
    proc, rows = classify(project, content)
    assert proc.returncode == 0, proc.stderr
    conf = [float(r["confidence"]) for r in rows]  # TF-IDF: Platt-calibrated on the training split
    assert all(0 < c <= 1 for c in conf) and all(r["NatureTitle"] in LABELS for r in rows)
    cut = sorted(conf)[1]  # the least confident row falls under it
    (project / "in.csv").write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "stages.classify", "--task", "imbalanced", "--method", "baseline",
                           "--input", "in.csv", "--output", "out.csv", "--min-confidence", str(cut)], cwd=project,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(project / "out.csv")))
    for r, c in zip(rows, conf, strict=True):
        assert float(r["confidence"]) == pytest.approx(c, abs=1e-4)  # recorded either way
        assert (r["NatureTitle"], r["error"]) == (("", "low confidence") if c < cut else (r["NatureTitle"], ""))
    assert sum(r["error"] == "low confidence" for r in rows) == 1 and "1 under the minimum confidence" in proc.stdout


class Scripted:
    """A classifier that answers from a table and counts the rows it was asked about."""
    fields = ["y"]

    def __init__(self, answers):
        self.answers, self.asked = answers, []

    def fit(self, train, val):
        self.fit_seconds_, self.train_rows_ = 1.0, 3
        return self

    def describe(self):
        return {}

    def predict(self, records):
        self.asked += [r["id"] for r in records]
        return [{"id": r["id"], "pred": {"y": self.answers[r["id"]][0]}, "confidence": {"y": self.answers[r["id"]][1]}}
                for r in records]


def test_the_cascade_sends_only_the_unsure_rows_to_the_strong_method():
    from stages.lib.methods.cascade_classifier import CascadeClassifier

    cheap = Scripted({"a": ("x", 0.9), "b": ("x", 0.4), "c": ("y", 0.6)})
    strong = Scripted({"a": ("z", 0.5), "b": ("z", 0.5), "c": ("z", 0.5)})
    clf = CascadeClassifier(cheap, strong, 0.65, {"cheap": "finetuned", "strong": "zero_shot"}).fit([], [])
    out = clf.predict([{"id": i, "text": i} for i in "abc"])
    assert strong.asked == ["b", "c"] and cheap.asked == ["a", "b", "c"]  # escalated at run time, only those
    assert [(o["pred"]["y"], o["answered_by"]) for o in out] == [("x", "finetuned"), ("z", "zero_shot"),
                                                                  ("z", "zero_shot")]
    assert clf.fit_seconds_ == 2.0
    alone = CascadeClassifier(None, strong, None, {"cheap": "finetuned", "strong": "zero_shot"}).fit([], [])
    assert [o["answered_by"] for o in alone.predict([{"id": "a", "text": "a"}])] == ["zero_shot"]
