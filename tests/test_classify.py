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
