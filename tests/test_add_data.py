"""`python -m stages.add_data`: a user's CSV checked as ingest checks it, its classes shown, its entries written
into params.yaml with every comment kept; and its refusals, which change nothing."""
import csv
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT


def add(cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stages.add_data", *args], cwd=cwd, capture_output=True, text=True,
                          env=env)


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data/raw").mkdir(parents=True)
    with open(ROOT / "data/raw/osha_sample.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # a CSV of the shipped sample with a label the pipeline never uses
    with open(tmp_path / "data/raw/mine.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["ID", "Final Narrative", "SourceTitle"])
        w.writeheader()
        w.writerows({k: r[k] for k in ("ID", "Final Narrative", "SourceTitle")} for r in rows)
    return tmp_path


def test_a_new_csv_gets_its_entries_and_the_comments_stay(project):
    before = (project / "params.yaml").read_text()
    proc = add(project, "data/raw/mine.csv", "--text", "Final Narrative", "--label", "SourceTitle")
    assert proc.returncode == 0, proc.stderr
    assert "min_count  10:" in proc.stdout and "python -m stages.run_task mine --quick" in proc.stdout
    after = (project / "params.yaml").read_text()
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert all(c in after for c in comments)  # round-tripped: no comment lost, nothing else rewritten
    import difflib

    changed = [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]
    assert all(d.startswith("+") for d in changed) and len(changed) == 11  # two entries added, nothing else
    params = yaml.safe_load(after)
    assert params["datasets"]["mine"] == {"path": "data/raw/mine.csv", "id": "ID", "text": ["Final Narrative"],
                                          "labels": ["SourceTitle"], "subject": "text"}
    assert params["tasks"]["mine"] == {"dataset": "mine", "labels": ["SourceTitle"], "sampling": "imbalanced",
                                       "min_count": 10}
    assert "mine" not in params["report"]["tasks"]  # the shipped comparison is untouched
    again = add(project, "data/raw/mine.csv", "--text", "Final Narrative", "--label", "SourceTitle")
    assert again.returncode == 2 and "already a dataset or task" in again.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.write_text(""), "file is empty"),
    (lambda p: p.write_text("ID,Final Narrative\n1,a fall\n"), "missing column(s) 'SourceTitle'"),
    (lambda p: p.write_text("ID,Final Narrative,SourceTitle\n"
                            + "".join(f"{i},text {i},Ladders\n" for i in range(50))), "has one class ('Ladders')"),
])
def test_bad_files_are_refused_naming_the_problem_and_params_stay_as_they_were(project, edit, message):
    edit(project / "data/raw/mine.csv")
    before = (project / "params.yaml").read_text()
    proc = add(project, "data/raw/mine.csv", "--text", "Final Narrative", "--label", "SourceTitle")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert (project / "params.yaml").read_text() == before
