"""The PR workflow is valid YAML; its comparison script runs against two commits of a temporary repository, flags
a change outside the base interval, and for 4 tasks x 5 methods fits one GitHub comment with room to spare."""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

from tests.conftest import ROOT

GITHUB_COMMENT_LIMIT = 65536


def headline(acc, low, high):
    return {"n": 100, "train_rows": 500, "accuracy": acc, "accuracy_ci": {"low": low, "high": high},
            "macro_f1": acc - 0.1, "macro_f1_ci": {"low": low - 0.1, "high": high - 0.1}, "invalid_rate": 0.0}


def test_workflow_comment_flags_changes_outside_the_base_interval(tmp_path):
    wf = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())
    steps = wf["jobs"]["test-and-compare"]["steps"]
    script = next(s["run"] for s in steps if s.get("name") == "Compare with the base branch")
    readme = (ROOT / "README.md").read_text()
    test_command = next(s["run"] for s in steps if s.get("name", "").startswith("Install, lint and test"))
    assert "ruff check . && python -m pytest -q" in test_command and test_command in readme  # the README's command
    assert test_command.replace("pip install", "pip install -q") in (ROOT / ".ci/run").read_text()
    assert "python .github/stale_check.py" in [s.get("run") for s in steps]
    assert "--edit-last --create-if-none" in next(s["run"] for s in steps if "Comment" in s.get("name", ""))

    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "RUN_URL": "https://example.invalid/run/1",
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}

    def run(cmd):
        return subprocess.run(cmd, cwd=tmp_path, shell=True, check=True, capture_output=True, text=True, env=env)

    run("git init -q -b main && git config user.email t@t && git config user.name t && dvc init -q")
    (tmp_path / ".github").mkdir()
    shutil.copy(ROOT / ".github/metrics_comment.py", tmp_path / ".github")
    (tmp_path / "params.yaml").write_text("lr: 0.1\n")
    tasks, methods = ["balanced", "imbalanced", "multitask", "multifield"], ["baseline", "zero_shot", "few_shot",
                                                                          "few_shot_knn", "finetuned"]
    for t in tasks:
        for m in methods:
            (tmp_path / f"metrics/eval/{t}").mkdir(parents=True, exist_ok=True)
            (tmp_path / f"metrics/eval/{t}/{m}.json").write_text(json.dumps(headline(0.5, 0.4, 0.6)))
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    params: [lr]\n")
    run("git add -A && git commit -qm base && git branch base")
    (tmp_path / "params.yaml").write_text("lr: 0.2\n")
    (tmp_path / "metrics/eval/balanced/finetuned.json").write_text(json.dumps(headline(0.75, 0.65, 0.85)))  # outside
    (tmp_path / "metrics/eval/balanced/zero_shot.json").write_text(json.dumps(headline(0.55, 0.45, 0.65)))  # inside
    calibrated = {**headline(0.5, 0.4, 0.6), "ece": 0.21, "ece_ci": {"low": 0.15, "high": 0.3},
                  "accuracy_at_coverage": {"80": 0.62}, "accuracy_at_coverage_ci": {"80": {"low": 0.5, "high": 0.7}},
                  "coverage_at_target": 0.35}
    (tmp_path / "metrics/eval/imbalanced/baseline.json").write_text(json.dumps(calibrated))  # new figures
    run("git commit -qam change")
    out = run(f"BASE=base; {script}").stdout
    comment = (tmp_path / "comment.md").read_text()
    assert "| lr" in out and "1 row(s) with a change outside" in comment
    assert "| balanced | finetuned | 500 | 50.0% → **75.0%** ⚠" in comment
    assert "| balanced | zero_shot | 500 | 50.0% → **55.0%** |" in comment
    assert "| ECE | acc @80% most confident | answered at target acc. |" in comment
    assert "| imbalanced | baseline | 500 | 50.0% | 0.210 | 62.0% | 35% |" in comment  # beside accuracy
    assert len(comment) < GITHUB_COMMENT_LIMIT / 4  # 20 rows: one comment, with room to spare
    # a rerun on a loaded machine: only timings moved (docs/costs.md); the comment flags nothing
    run("git branch -f base HEAD")
    (tmp_path / "metrics/timings/balanced").mkdir(parents=True)
    (tmp_path / "metrics/timings/balanced/finetuned.json").write_text(json.dumps({"latency_s": 5.0}))
    (tmp_path / "metrics/train").mkdir()
    (tmp_path / "metrics/train/balanced.json").write_text(json.dumps({"train_seconds": 999.0}))
    run("git add -A && git commit -qm loaded")
    run(f"BASE=base; {script}")
    loaded = (tmp_path / "comment.md").read_text()
    assert "0 row(s) with a change outside" in loaded and "⚠ |" not in loaded and "999" not in loaded


def zizmor(path):
    exe = shutil.which("zizmor")
    assert exe, "zizmor (requirements.txt) is not installed"
    return subprocess.run([exe, "--offline", str(path)], capture_output=True, text=True)


def test_the_workflow_passes_a_maintained_linter_that_can_fail(tmp_path):
    proc = zizmor(ROOT / ".github/workflows/pr.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = tmp_path / "pr.yml"  # the same workflow with an action pinned by tag instead of by commit
    text = (ROOT / ".github/workflows/pr.yml").read_text()
    bad.write_text(re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text))
    proc = zizmor(bad)
    assert proc.returncode != 0 and "unpinned-uses" in proc.stdout + proc.stderr


def test_the_gate_runs_on_every_pull_request_event_and_fails_the_job_after_the_comment():
    wf = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())
    events = wf[True]["pull_request"]["types"]  # YAML 1.1 reads the key `on` as true
    assert {"labeled", "unlabeled", "synchronize"} <= set(events)
    steps = wf["jobs"]["test-and-compare"]["steps"]
    names = [s.get("name", "") for s in steps]
    gate = steps[next(i for i, n in enumerate(names) if n.startswith("Paired regression gate"))]
    assert "regression_gate.py" in gate["run"] and "accept-regression" in gate["env"]["ACCEPT"]
    comment = next(i for i, n in enumerate(names) if n.startswith("Comment on the pull request"))
    fail = next(i for i, n in enumerate(names) if n.startswith("Fail on a significant regression"))
    assert fail > comment and steps[fail]["if"] == "steps.gate.outputs.rc != '0'"
    assert "cat gate.md" in next(s["run"] for s in steps if s.get("name") == "Compare with the base branch")
