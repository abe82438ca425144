"""The PR workflow is valid YAML, and its comparison commands run against two commits of a temporary repo."""
import os
import subprocess
import sys

import yaml

from tests.conftest import ROOT


def test_workflow_yaml_and_commands(tmp_path):
    wf = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())
    steps = wf["jobs"]["test-and-compare"]["steps"]
    script = next(s["run"] for s in steps if s.get("name") == "Compare with the base branch")
    assert "python -m pytest -q" in next(s["run"] for s in steps if s.get("name", "").startswith("Install and test"))

    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    run = lambda cmd: subprocess.run(cmd, cwd=tmp_path, shell=True, check=True, capture_output=True, text=True, env=env)  # noqa: E731
    run("git init -q -b main && git config user.email t@t && git config user.name t && dvc init -q")
    (tmp_path / "params.yaml").write_text("lr: 0.1\n")
    (tmp_path / "m.json").write_text('{"accuracy": 0.5}')
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n    params: [lr]\n    metrics:\n      - m.json:\n          cache: false\n")
    run("git add -A && git commit -qm base && git branch base")
    (tmp_path / "params.yaml").write_text("lr: 0.2\n")
    (tmp_path / "m.json").write_text('{"accuracy": 0.75}')
    run("git commit -qam change")
    out = run(f"BASE=base; export PATH={os.path.dirname(sys.executable)}:$PATH; {script}").stdout
    assert "| lr" in out and "0.75" in out and "0.5" in out
