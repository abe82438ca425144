"""`python -m stages.classify` on good and bad files, in a small project of its own (TF-IDF: no model needed)."""
import csv
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
    content = ("ID,Final Narrative,Other\r\n1,the saw blade took a finger,x\r\n2,\"he fell from a ladder\r\nand broke"
               " his leg\",y\r\n3,   ,z\r\n1,duplicate row,w\r\n").encode()
    proc, rows = classify(project, content)
    assert proc.returncode == 0, proc.stderr
    assert [r["id"] for r in rows] == ["1", "2", "3", "1"]
    assert rows[0]["NatureTitle"] == "Amputations" and rows[1]["NatureTitle"] == "Fractures"
    assert all(r["method"] == "baseline" for r in rows)
    assert (rows[2]["NatureTitle"], rows[2]["error"]) == ("", "empty text")  # never a guessed label
    assert rows[3]["NatureTitle"] in LABELS and rows[3]["error"] == ""  # a repeated id is still a row to classify
    assert not (project / "out.csv.partial").exists()


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


def test_an_interrupted_run_resumes_without_redoing_finished_rows(project):
    content = b"ID,Final Narrative\n1,the saw blade took a finger\n2,fell from a ladder\n"
    (project / "in.csv").write_bytes(content)
    from stages.lib.new_data import run_key

    key = run_key(str(project / "in.csv"), "imbalanced", "baseline")
    # a previous run finished row 1 (with an answer this run would not give) before it was interrupted
    (project / "out.csv.partial").write_text(json.dumps({"key": key}) + "\n"
                                             + json.dumps({"row": 0, "pred": {"NatureTitle": "Fractures"}}) + "\n")
    proc, rows = classify(project, content)
    assert proc.returncode == 0, proc.stderr
    assert [r["NatureTitle"] for r in rows] == ["Fractures", "Fractures"]  # row 1 kept, not redone
    assert "1 done before" in proc.stderr
