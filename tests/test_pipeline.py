"""The real `dvc repro` on a copy of the repository with tiny params: outputs, a no-op second run, a change
that reruns only its own task, and bad input refused by the stage commands themselves."""
import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.profile import short  # a stage's name without its pipeline file ('scoring/dvc.yaml:evaluate@x')
from tests.conftest import PIPELINES, ROOT

pytestmark = pytest.mark.xdist_group("pipeline")  # one worker: the module's `repo` fixture is built once

KEEP = [*PIPELINES, "params.yaml", "README.md", "stages", "data/raw", "metrics/seeds", "metrics/cascade",
        ".dvc/config", ".dvcignore", ".gitignore"]


def sh(cmd, cwd, check=True, **extra_env):
    # XDG_CACHE_HOME: the response and checkpoint caches of this copy stay inside the test's own folder
    env = {**os.environ, "PYTHONPATH": str(cwd), "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1",
           "XDG_CACHE_HOME": str(cwd.parent / "usercache"), **extra_env}
    proc = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, env=env)
    if check and proc.returncode:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def build(dst: Path) -> None:
    """The repository's pipeline with tiny params, committed and then reproduced."""
    for item in KEEP:
        src = ROOT / item
        (dst / item).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(
            src, dst / item, **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {})
        )
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["base_model"] = params["model"] = "tiny-random"
    params["tasks"] = {k: params["tasks"][k] for k in ("balanced", "multitask")}
    params["tasks"]["balanced"]["top_n"] = 4
    params["tasks"]["multitask"]["min_count"] = 15
    params["report"]["tasks"] = ["balanced", "multitask"]
    params["learning_curve"] = {"tasks": ["balanced"], "sizes": [8]}
    for recipe in ("finetune", "finetune_head"):
        params[recipe].update(
            {"max_train_samples": 16, "max_val_samples": 8, "epochs": 1, "top_layers": 1, "batch_size": 4,
             "min_steps": 0}
        )
    for m in ("zero_shot", "few_shot", "few_shot_knn"):
        params["methods"][m]["batch_size"] = 8
    params["methods"]["setfit"].update({"max_steps": 2, "batch_size": 4, "max_length": 32})
    params["methods"]["encoder_finetuned"].update({"max_length": 32, "min_steps": 4})
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm init", dst)
    sh(f"{sys.executable} -m dvc repro", dst)


@pytest.fixture(scope="session")
def built(tmp_path_factory, worker_id):
    """The pipeline built once per test run, in `<root>/built/repo` (its per-user cache beside it), and never
    changed after. Two xdist workers share the one build: the first to ask builds it under a lock, the other waits.
    """
    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent  # the run's directory, shared by its workers
    with open(root / "built.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "built/done").exists():
            shutil.rmtree(root / "built", ignore_errors=True)
            (root / "built/repo").mkdir(parents=True)
            build(root / "built/repo")
            (root / "built/done").touch()
    return root / "built/repo"


@pytest.fixture(scope="module")
def repo(built, tmp_path_factory):
    """A copy of the built pipeline for this module's tests on this worker (its per-user cache with it, DVC's
    run-time state without it), so tests that change the repository never change another worker's."""
    dst = tmp_path_factory.mktemp("pipeline")
    if (built.parent / "usercache").exists():
        shutil.copytree(built.parent / "usercache", dst / "usercache", symlinks=True)
    shutil.copytree(built, dst / "repo", symlinks=True, ignore=lambda d, names: ["tmp"] if d.endswith(".dvc") else [])
    return dst / "repo"


def test_repro_builds_every_task_and_method(repo):
    import json

    summary = json.loads((repo / "metrics/summary.json").read_text())
    expected = {f"{t}/{m}" for t in ("balanced", "multitask")
                for m in ("baseline", "embedding_lr", "setfit", "encoder_finetuned", "zero_shot", "few_shot",
                          "few_shot_knn", "finetuned", "finetuned_head", "cascade")}
    assert set(summary) == expected
    for row in summary.values():
        assert 0 <= row["accuracy"] <= 1 and row["n"] > 0
        # counted work on every row of every method, priced at the profile: a cost that no clock feeds
        assert row["flops_per_sample"] > 0 and row["cost_per_million"] > 0
    assert summary["balanced/finetuned"]["fit_flops"] > summary["balanced/baseline"]["fit_flops"] > 0
    assert summary["multitask/zero_shot"]["invalid_rate"] == 0  # constrained: valid by construction
    row = summary["balanced/finetuned"]
    assert row["accuracy_ci"]["low"] <= row["accuracy"] <= row["accuracy_ci"]["high"] and row["train_rows"] == 16
    assert summary["balanced/baseline"]["train_rows"] > 16  # the report says what each method learned from
    compare = json.loads((repo / "metrics/compare/balanced.json").read_text())
    assert compare["reference"] == "finetuned" and set(compare["against"]) == {
        "baseline", "embedding_lr", "setfit", "encoder_finetuned", "zero_shot", "few_shot", "few_shot_knn",
        "finetuned_head", "cascade"}
    for m in ("embedding_lr", "setfit", "encoder_finetuned"):  # the encoder methods: rows, curve points, verdicts
        assert summary[f"multitask/{m}"]["invalid_rate"] == 0
        assert (repo / f"metrics/curve/balanced/{m}/8.json").exists()
    head = summary["multitask/finetuned_head"]  # the head model: same rows as fine-tuning, a paired verdict
    assert head["train_rows"] == summary["multitask/finetuned"]["train_rows"] == 16
    assert head["invalid_rate"] == 0 and (repo / "metrics/curve/balanced/finetuned_head/8.json").exists()
    # the head's recipe chosen on validation (finetune_head.search): both candidates trained, paid for, reported
    training = json.loads((repo / "metrics/train_head/multitask.json").read_text())
    assert [c["class_weight"] for c in training["search"]] == [None, "balanced"]
    assert training["train_seconds"] >= sum(c["train_seconds"] for c in training["search"]) * 0.999
    assert "Recipes chosen on validation" in (repo / "metrics/report.md").read_text()
    assert "distinguishable from noise" in (repo / "metrics/report.md").read_text()
    assert (repo / "metrics/confusion/multitask/finetuned/part_of_body_title.svg").exists()
    assert (repo / "models/adapters/balanced/adapter_config.json").exists()
    assert "| balanced" in (repo / "metrics/report.md").read_text()
    assert (repo / "metrics/plots/png/accuracy_vs_cost.png").exists()
    assert {"task", "method", "class", "f1"} <= set(
        json.loads((repo / "metrics/plots/per_class_f1.json").read_text())[0]
    )
    # a confidence on every row of every method but the cascade, scored on test, recalibrated on validation
    kinds = {"baseline": "calibrated", "zero_shot": "exact", "finetuned_head": "softmax"}
    val_ids = [json.loads(line)["id"] for line in (repo / "data/tasks/balanced/val.jsonl").open()]
    for m, kind in kinds.items():
        row, details = summary[f"balanced/{m}"], json.loads((repo / f"metrics/details/balanced/{m}.json").read_text())
        assert details["calibration"]["confidence_kinds"] == [kind] and row["calibration_rows"] == row["n"]
        assert 0 <= row["ece_ci"]["low"] <= row["ece"] <= row["ece_ci"]["high"] <= 1 and "ece_recalibrated" in row
        assert details["calibration"]["recalibration"]["val_rows"] == len(val_ids[:48])
        assert row["target_accuracy"] == 0.9
        assert (repo / f"metrics/plots/reliability/balanced/{m}.json").exists()
    assert summary["multitask/finetuned"]["confidence_kinds"] == ["path"]  # JSON answers: the chosen path
    val = [json.loads(line) for line in (repo / "data/predictions/balanced/finetuned.val.jsonl").open()]
    assert [p["id"] for p in val] == val_ids[:48]  # the first evaluate.val_rows rows
    assert "ece" not in summary["balanced/cascade"]  # its parts' confidences are not one scale
    cascade = json.loads((repo / "metrics/cascade/balanced.json").read_text())
    assert cascade["cheap"] == "finetuned" and cascade["strong"] in ("zero_shot", "few_shot", "few_shot_knn")
    assert cascade["strong_candidates"][cascade["strong"]] == max(cascade["strong_candidates"].values())
    assert set(cascade["against"]) == {"finetuned", cascade["strong"]} and 0 <= cascade["escalated_test"] <= 1
    report = (repo / "metrics/report.md").read_text()
    assert "Both, at a threshold: the cascade" in report and "ECE recalibrated" in report
    assert (repo / "metrics/plots/png/reliability_balanced.png").exists()
    few = json.loads((repo / "data/prompts/multitask/few_shot.json").read_text())
    test_ids = {json.loads(line)["id"] for line in (repo / "data/tasks/multitask/test.jsonl").open()}
    assert not {e["id"] for e in few["examples"]} & test_ids


@pytest.mark.parametrize("stage", ["predict_baseline@balanced", "predict_zero_shot@balanced",
                                   "mine_few_shot@balanced", "predict_finetuned_head@multitask",
                                   "curve_baseline@balanced-8",
                                   "predict_embedding_lr@balanced", "predict_setfit@balanced",
                                   "scoring/dvc.yaml:cascade@balanced", "report"])
def test_the_code_a_stage_really_imports_is_in_its_deps(repo, stage, tmp_path):
    """The generated deps against a real run: the stage's command, run as DVC runs it, under `python -X importtime`,
    imports no project file its deps miss (the method registry imports specs, builders and trainers by name, so a
    static closure alone cannot show this)."""
    spec = yaml.safe_load((repo / ("scoring/dvc.yaml" if ":" in stage else "dvc.yaml")).read_text())["stages"]
    group, _, key = short(stage).partition("@")
    body = spec[group].get("do", spec[group])
    params = yaml.safe_load((repo / "params.yaml").read_text())
    cmd = body["cmd"].replace("${key}", key).replace("${item}", key)
    if "matrix" in body:  # a matrix stage's key is its items' values joined by "-", in the matrix's order
        for name, value in zip(body["matrix"], key.split("-"), strict=True):
            cmd = cmd.replace(f"${{item.{name}}}", value)
    cmd = re.sub(r"\$\{([\w.]+)\}", lambda m: str(_lookup(params, m.group(1))), cmd)
    deps = [d if isinstance(d, str) else next(iter(d)) for d in body["deps"]]
    copy = tmp_path / "repo"  # the stage rewrites its outputs: in a copy, so the module's repo stays as built
    shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".dvc", ".git"))
    proc = sh(cmd.replace("python ", f"{sys.executable} -X importtime ", 1), copy)
    imported = {m for m in re.findall(r"\|\s+(stages(?:\.\w+)*)\s*$", proc.stderr, re.M)}
    files = {str(Path(*m.split(".")).with_suffix(".py")) if (copy / Path(*m.split(".")).with_suffix(".py")).exists()
             else str(Path(*m.split(".")) / "__init__.py") for m in imported}
    missing = sorted(f for f in files if f not in deps and not f.endswith("__init__.py"))
    assert imported and not missing, f"{stage} imported {missing}, which its deps miss"


def _lookup(params: dict, key: str):
    for part in key.split("."):
        params = params[part]
    return params


def test_second_repro_is_a_noop_and_diffs_work(repo):
    out = sh(f"{sys.executable} -m dvc repro", repo).stdout
    assert "Running stage" not in out
    # `dvc status` checks every pipeline file's stages, `dvc repro` only the root's and their upstream: the plain
    # repro above reached the scoring stages too
    assert "Data and pipelines are up to date" in sh(f"{sys.executable} -m dvc status", repo).stdout
    shown = sh(f"{sys.executable} -m dvc metrics show", repo).stdout
    assert "accuracy_ci" in shown and "per_class" not in shown and "latency" not in shown  # headline only


def test_stale_results_fail_the_check_on_a_clean_clone_naming_the_stages(repo, tmp_path):
    """`.github/stale_check.py`, as the PR workflow runs it: a clean clone (no DVC cache, no outputs) passes while
    code and params match dvc.lock, and fails naming the stages a library edit made stale."""
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm 'dvc repro'", repo)
    clean = tmp_path / "clean"
    sh(f"git clone -q {repo} {clean}", tmp_path)
    check = f"{sys.executable} {ROOT / '.github/stale_check.py'}"
    assert "every stage's code and params match its lock file" in sh(check, clean).stdout
    path = clean / "stages/lib/scoring.py"
    original = path.read_text()
    path.write_text(original + "\n# a change to scoring\n")
    proc = sh(check, clean, check=False)
    stale = {short(line.split(": ")[1]) for line in proc.stdout.splitlines() if line.startswith("stale: ")}
    assert proc.returncode == 1 and "stages/lib/scoring.py (modified)" in proc.stdout
    assert {"evaluate@balanced-baseline", "compare@balanced", "curve_finetuned@balanced-8"} <= stale
    assert not [s for s in stale if s.startswith(("ingest", "split", "task", "finetune@", "predict_", "report"))]
    assert "run `dvc repro` and commit `dvc.lock`, `scoring/dvc.lock` and `metrics/`" in proc.stdout
    path.write_text(original)
    pool = clean / "stages/lib/backends/claude/pool.py"  # what prompting can run, Claude included
    pool.write_text(pool.read_text() + "\n# a change to the Claude pool\n")
    proc = sh(check, clean, check=False)
    assert proc.returncode == 1
    assert re.search(r"stale: predict_zero_shot@balanced: .*stages/lib/backends/claude/pool.py \(modified\)",
                     proc.stdout)
    assert "predict_finetuned@balanced" not in proc.stdout  # the fine-tuned model never asks Claude
    sh("git checkout -q stages/lib/backends/claude/pool.py", clean)
    params = clean / "params.yaml"
    params.write_text(params.read_text().replace("bootstrap: 2000", "bootstrap: 1000"))
    proc = sh(check, clean, check=False)
    assert proc.returncode == 1 and "param evaluate.bootstrap (modified)" in proc.stdout


def test_the_regression_gate_fails_on_a_planted_drop_and_the_label_accepts_it(repo):
    """`.github/regression_gate.py` as the PR workflow runs it, against a commit of this pipeline's real results:
    the same results pass; the same with every row TF-IDF got right on `balanced` now wrong fails, naming it; the
    accept-regression label (--accept) then passes and says so."""
    import json

    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm results --allow-empty", repo)
    gate = f"{sys.executable} {ROOT / '.github/regression_gate.py'} HEAD"
    same = sh(gate, repo)
    assert "Passes: no gated method is significantly less accurate" in same.stdout
    assert "| balanced | baseline |" in same.stdout and "| multitask | finetuned_head |" in same.stdout
    path = repo / "metrics/rows/balanced/baseline.json"
    original = path.read_text()
    rows = json.loads(original)
    summary = json.loads((repo / "metrics/summary.json").read_text())["balanced/baseline"]
    assert len(rows["ids"]) == summary["n"] and rows["correct"].count("1") == round(summary["accuracy"] * summary["n"])
    assert rows["correct"].count("1") >= 10  # enough right rows for a planted drop to be significant
    try:
        path.write_text(json.dumps({**rows, "correct": "0" * len(rows["correct"])}))
        drop = sh(gate, repo, check=False)
        assert drop.returncode == 1 and "**baseline is significantly less accurate on balanced**" in drop.stdout
        assert "adds the label `accept-regression`" in drop.stdout and "multitask is significantly" not in drop.stdout
        accepted = sh(gate + " --accept", repo)
        assert "Accepted by the `accept-regression` label" in accepted.stdout and "✗" in accepted.stdout
    finally:
        path.write_text(original)


def test_a_code_change_makes_exactly_the_stages_that_run_it_stale(repo):
    """The issue's own example: a change to the prediction loop used to leave every result 'up to date'."""
    path = repo / "stages/lib/predictions.py"
    original = path.read_text()
    try:
        path.write_text(original + "\n# a change to the prediction loop\n")
        stale = {short(line.strip().rstrip(":"))
                 for line in sh(f"{sys.executable} -m dvc status", repo).stdout.splitlines()
                 if line and not line.startswith("\t") and line.endswith(":")}
        assert {"predict_baseline@balanced", "predict_zero_shot@multitask", "predict_few_shot_knn@balanced",
                "predict_finetuned@multitask"} <= stale
        assert not [s for s in stale if s.startswith(("finetune@", "ingest@", "task@", "base_model", "evaluate"))]
    finally:
        path.write_text(original)
    assert "Data and pipelines are up to date" in sh(f"{sys.executable} -m dvc status", repo).stdout


def test_a_task_param_change_reruns_only_that_task(repo):
    """A task's param reaches its own stages and no other task's: after its rows are rebuilt, DVC finds every stage
    downstream of them changed (each method's prediction, the fine-tunings) and none of the other task's; its cheap
    chain run for real moves its metrics. (Running the whole chain would test DVC, not this pipeline's deps.)"""
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["tasks"]["balanced"]["top_n"] = 3
    cheap = "predict_baseline@balanced scoring/dvc.yaml:evaluate@balanced-baseline"
    try:
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        status = sh(f"{sys.executable} -m dvc status", repo).stdout
        assert "task@balanced" in status and "task@multitask" not in status
        assert "balanced" in sh(f"{sys.executable} -m dvc params diff", repo).stdout
        sh(f"{sys.executable} -m dvc repro --single-item task@balanced", repo)
        changed = {short(line.rstrip(":")) for line in sh(f"{sys.executable} -m dvc status", repo).stdout.splitlines()
                   if line and not line.startswith((" ", "\t"))}
        assert {"predict_baseline@balanced", "predict_setfit@balanced", "finetune@balanced",
                "finetune_head@balanced", "curve_baseline@balanced-8"} <= changed
        assert not any("multitask" in s or s.startswith(("ingest", "split", "base_model")) for s in changed)
        sh(f"{sys.executable} -m dvc repro --single-item {cheap}", repo)
        assert "balanced/baseline" in sh(f"{sys.executable} -m dvc metrics diff", repo).stdout
    finally:  # the module's other tests get the pipeline as it was built
        (repo / "params.yaml").write_text(original)
        sh(f"{sys.executable} -m dvc repro --single-item task@balanced {cheap}", repo)
    assert "balanced" not in sh(f"{sys.executable} -m dvc status", repo).stdout


ENCODERS_TRAINED = ("setfit", "encoder_finetuned")  # seeded, trained inside their prediction stages


def test_seeds_train_one_adapter_each_and_the_report_gives_their_spread(repo):
    """seed_spread.tasks x finetune(_head).seeds and the trained encoders' seeds: a stage per seed; the first seed's
    stage resumes the pipeline adapter's cached checkpoint (an encoder method trains again, seeded) and scores what
    the pipeline scored; the report shows mean and spread."""
    import json

    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["seed_spread"]["tasks"] = ["balanced"]
    params["finetune"]["seeds"] = params["finetune_head"]["seeds"] = [42, 7]
    for method in ENCODERS_TRAINED:
        params["methods"][method]["seeds"] = [42, 7]
    checkpoints = repo.parent / "usercache/ft-vs-pe/checkpoints"
    before = set(checkpoints.iterdir())
    try:
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        # the seed stages and the report only (the pipeline's own fine-tuning reruns too in a full repro)
        out = sh(f"{sys.executable} -m dvc repro --glob 'seed_*'", repo).stdout
        sh(f"{sys.executable} -m dvc repro --single-item report", repo)
        ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
        seeded = ("finetuned", "finetuned_head", *ENCODERS_TRAINED)
        assert ran == {f"seed_{m}@balanced-{s}" for m in seeded for s in (42, 7)}
        summary = json.loads((repo / "metrics/summary.json").read_text())
        for method in seeded:
            point = {s: json.loads((repo / f"metrics/seeds/balanced/{method}/{s}.json").read_text()) for s in (42, 7)}
            assert point[42]["accuracy"] == summary[f"balanced/{method}"]["accuracy"]  # the pipeline's own seed
            assert method in ENCODERS_TRAINED or point[7]["train_loss"] is not None  # trained here, not resumed
            row = summary[f"balanced/{method}"]
            assert row["seeds"] == [42, 7] and row["seed_accuracy_mean"] == pytest.approx(
                (point[42]["accuracy"] + point[7]["accuracy"]) / 2)
            assert "seed_accuracy_mean" not in summary[f"multitask/{method}"]
        # seed 7 trained one adapter per recipe under fingerprints of its own; seed 42 resumed the pipeline's
        # (the head's recipe search trains each of its candidates under a fingerprint of its own)
        assert len(set(checkpoints.iterdir()) - before) == 1 + len(params["finetune_head"]["search"]["class_weight"])
        assert "Across training seeds" in (repo / "metrics/report.md").read_text()
        assert "seed_finetuned@balanced-7" not in sh(f"{sys.executable} -m dvc status", repo).stdout
    finally:
        (repo / "params.yaml").write_text(original)


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["datasets"]["osha"].update(text=["No Such Column"]), "missing column(s) 'No Such Column'"),
    (lambda p: p["datasets"]["osha"].update(path="data/raw/empty.csv"), "data/raw/empty.csv: file is empty"),
])
def test_bad_input_fails_cleanly(repo, tmp_path, edit, message):
    bad = tmp_path / "bad"
    shutil.copytree(repo, bad, ignore=shutil.ignore_patterns("models", ".dvc"))
    (bad / "data/raw/empty.csv").write_text("")
    params = yaml.safe_load((bad / "params.yaml").read_text())
    edit(params)
    (bad / "params.yaml").write_text(yaml.safe_dump(params))
    before = (bad / "data/interim/osha.jsonl").read_bytes()
    proc = sh(f"{sys.executable} -m stages.ingest --dataset osha", bad, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert (bad / "data/interim/osha.jsonl").read_bytes() == before  # nothing overwritten


def test_unknown_dataset_and_task(repo):
    for cmd, msg in [
        ("stages.ingest --dataset nope", "unknown dataset 'nope'"),
        ("stages.task --task nope", "unknown task 'nope'"),
    ]:
        proc = sh(f"{sys.executable} -m {cmd}", repo, check=False)
        assert proc.returncode == 2 and msg in proc.stderr
    # a prompted model the registry lacks: the tool's own message with the known names, not DVC's interpolation
    proc = sh(f"{sys.executable} -m dvc exp run -S model=nope predict_zero_shot@balanced", repo, check=False)
    sh(f"git checkout -q params.yaml && {sys.executable} -m dvc checkout -q", repo)  # the outputs exp run removed
    assert proc.returncode != 0 and "unknown model 'nope' (known: smollm2" in proc.stdout + proc.stderr


@pytest.mark.xdist_group("claude")  # a group of its own: the other worker runs it, on a copy of its own
def test_claude_arm_and_a_queued_experiment_send_no_repeated_request(repo):
    """`dvc exp run -S model=opus` against the local wire-format server in today's mode, where that model can only
    think: every answer valid, the thinking it was given recorded. Then a queued experiment, which runs in a copy
    holding only tracked files, finds the per-user response cache and sends nothing again. An id the API does not
    know stops the run before any message is sent."""
    import json
    import time

    from tests.fake_anthropic import FakeAnthropic

    fake = FakeAnthropic()
    env = {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.url, "PYTHONPATH": ""}
    sh("git add -A && git -c user.email=t@t -c user.name=t commit -qm results --allow-empty", repo)
    try:
        proc = sh(f"{sys.executable} -m dvc exp run -S model=sonnet -S models.sonnet.id=claude-nonexistent-1", repo,
                  check=False, **env)
        assert (
            proc.returncode and "models.sonnet.id 'claude-nonexistent-1': the API knows no such model" in proc.stderr
        )
        assert not [r for r in fake.log if r[1].startswith("/v1/messages")]  # nothing sent, not even counted
        sh("git checkout -- params.yaml", repo)
        # opus must think here: the estimate counts 1,024 thinking tokens a request, and the largest stage (each
        # stage is one run with one budget) is over $1, so it refuses before it sends anything
        proc = sh(f"{sys.executable} -m dvc exp run -S model=opus -S claude.max_usd=1", repo, check=False, **env)
        assert proc.returncode and "exceeds claude.max_usd=$1.0; nothing was sent" in proc.stderr
        sh("git checkout -- params.yaml", repo)
        sh(f"{sys.executable} -m dvc exp run -S model=opus -S claude.max_usd=20", repo, **env)
        bodies = [json.dumps(r[2], sort_keys=True) for r in fake.log if r[1] == "/v1/messages"]
        assert bodies and len(bodies) == len(set(bodies))
        summary = json.loads((repo / "metrics/summary.json").read_text())
        assert all(summary[f"{t}/{m}"]["invalid_rate"] == 0 for t in ("balanced", "multitask")
                   for m in ("zero_shot", "few_shot", "few_shot_knn"))
        meta = json.loads((repo / "data/predictions/multitask/zero_shot.meta.json").read_text())
        assert (meta["model"], meta["thinking"], meta["effort"]) == ("claude-opus-5-5", {"type": "adaptive"}, "low")
        # claude.concurrency is a param of the prompting stages: the one queued there really reruns in the copy
        # (it asks the API about the model once more) and finds every answer in the per-user cache
        described = sum(r[1].startswith("/v1/models/") for r in fake.log)
        sh(f"{sys.executable} -m dvc exp run --queue -S model=opus -S claude.max_usd=20 -S claude.concurrency=2 "
           "predict_zero_shot@multitask", repo, **env)
        sh(f"{sys.executable} -m dvc queue start -j 1", repo, **env)
        for _ in range(600):
            status = sh(f"{sys.executable} -m dvc queue status", repo, **env).stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(1)
        assert "Success" in status, status
        again = [json.dumps(r[2], sort_keys=True) for r in fake.log if r[1] == "/v1/messages"]
        assert len(again) == len(bodies)  # 0 repeated requests
        assert sum(r[1].startswith("/v1/models/") for r in fake.log) == described + 1
        # behind a gateway whose Models API describes models without capabilities (LiteLLM's proxy): the
        # registry's declaration shapes the requests, and the server, strict about Sonnet 5.5's thinking, takes them
        gateway = FakeAnthropic(gateway="no_capabilities")
        try:
            sh("git checkout -- params.yaml", repo)
            proc = sh(f"{sys.executable} -m dvc exp run -S model=sonnet -S claude.max_usd=20", repo,
                      **{**env, "ANTHROPIC_BASE_URL": gateway.url})
            assert "using the capabilities declared in models.sonnet.capabilities" in proc.stdout + proc.stderr
            summary = json.loads((repo / "metrics/summary.json").read_text())
            assert all(summary[f"{t}/{m}"]["invalid_rate"] == 0 for t in ("balanced", "multitask")
                       for m in ("zero_shot", "few_shot", "few_shot_knn"))
            meta = json.loads((repo / "data/predictions/multitask/zero_shot.meta.json").read_text())
            assert (meta["model"], meta["lifecycle"], meta["thinking"]) == (
                "claude-sonnet-5-5", "declared", {"type": "between_tools"})
        finally:
            gateway.close()
    finally:
        sh(f"{sys.executable} -m dvc queue stop", repo, check=False)
        sh("git checkout -- params.yaml", repo, check=False)  # the workspace run left model=opus there
        fake.close()


def test_two_processes_train_one_adapter_and_shard_predictions_identically(repo):
    """finetune.processes / methods.<m>.processes = 2: the stages rerun themselves under torchrun (gloo on CPU).
    torchrun runs each process on one thread, so the single-process reference does too (same float sums)."""
    import json

    original = (repo / "params.yaml").read_text()

    def run(processes: int, batch_size: int) -> tuple[list, dict]:
        params = yaml.safe_load(original)
        params["model"] = params["base_model"] = "tiny-random"
        params["methods"]["zero_shot"]["processes"] = params["finetune"]["processes"] = processes
        params["finetune"]["batch_size"] = batch_size
        params["finetune"]["checkpoint_dir"] = str(repo.parent / f"checkpoints-{processes}")  # train, not resume
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        sh(
            f"{sys.executable} -m stages.predict --task balanced --method zero_shot",
            repo,
            OMP_NUM_THREADS="1",
        )
        sh(f"{sys.executable} -m stages.finetune --task balanced", repo, OMP_NUM_THREADS="1")
        preds = [json.loads(line) for line in (repo / "data/predictions/balanced/zero_shot.jsonl").open()]
        return [(p["id"], p["pred"]) for p in preds], json.loads((repo / "metrics/train/balanced.json").read_text())

    try:
        single_preds, single = run(1, 4)
        multi_preds, multi = run(2, 2)  # 2 processes x half the batch: the same rows per optimiser step
    finally:
        (repo / "params.yaml").write_text(original)
    assert multi_preds == single_preds  # one file, in input order, the same answers
    assert single["world_size"] == 1 and multi["world_size"] == 2  # really two processes
    assert (repo / "models/adapters/balanced/adapter_model.safetensors").exists()
    assert not list((repo / "models/adapters").glob(".balanced*"))  # one adapter, no stray temporary copy
    assert multi["steps"] == single["steps"]
    assert multi["train_loss"] == pytest.approx(single["train_loss"], rel=0.02)  # loss scaled as one process
    assert multi["eval_losses"] == pytest.approx(single["eval_losses"], rel=0.02)


def test_classify_with_the_head_model_on_a_file_the_pipeline_never_saw(repo, tmp_path):
    import csv
    import json

    new = tmp_path / "new.csv"
    new.write_text("ID,Final Narrative\nn1,A worker slipped on ice and broke a wrist.\n"
                   "n2,An employee's finger was caught in a conveyor.\nn3,\n")
    out = tmp_path / "out.csv"
    sh(f"{sys.executable} -m stages.classify --task multitask --method finetuned_head --input {new} --output {out}",
       repo)
    rows = list(csv.DictReader(out.open()))
    labels = json.loads((repo / "data/tasks/multitask/labels.json").read_text())
    assert [r["id"] for r in rows] == ["n1", "n2", "n3"] and rows[2]["error"] == "empty text"
    assert all(r[f] in labels[f] for r in rows[:2] for f in labels)
    meta = json.loads(Path(str(out) + ".meta.json").read_text())
    assert meta["method"] == "finetuned_head" and meta["adapter"].endswith("head_adapters/multitask")


def test_classify_with_the_cascade_and_a_minimum_confidence_on_a_file_the_pipeline_never_saw(repo, tmp_path):
    import csv
    import json

    new = tmp_path / "new.csv"
    new.write_text("ID,Final Narrative\nn1,A worker slipped on ice and broke a wrist.\n"
                   "n2,An employee's finger was caught in a conveyor.\nn3,A burn from hot oil.\n")
    out = tmp_path / "out.csv"
    sh(f"{sys.executable} -m stages.classify --task balanced --method cascade --min-confidence 0.5 --input {new} "
       f"--output {out}", repo)
    rows = list(csv.DictReader(out.open()))
    labels = json.loads((repo / "data/tasks/balanced/labels.json").read_text())["NatureTitle"]
    chosen = json.loads((repo / "metrics/cascade/balanced.json").read_text())
    parts = {f"cascade:{chosen['cheap']}", f"cascade:{chosen['strong']}"}
    assert [r["id"] for r in rows] == ["n1", "n2", "n3"] and all(r["method"] in parts for r in rows)
    for r in rows:
        conf = float(r["confidence"])
        assert 0 < conf <= 1
        assert (r["NatureTitle"], r["error"]) == ("", "low confidence") if conf < 0.5 else r["NatureTitle"] in labels


TIMINGS = ("latency_s", "predict_seconds", "fit_seconds", "train_seconds")  # what a clock recorded
MEASURED = (*TIMINGS, "throughput", "train_samples_per_s", "train_tokens_per_s")  # and what is derived from one


def _scale_timings(root: Path, methods: list[str], factors: tuple[float, float]) -> None:
    """Every timing a finished pipeline recorded, scaled method by method: alternately by factors[0] and [1]."""
    import json

    def scaled(obj, f):
        if isinstance(obj, dict):
            return {k: (v * f if k in TIMINGS and isinstance(v, (int, float)) else scaled(v, f))
                    for k, v in obj.items()}
        return [scaled(v, f) for v in obj] if isinstance(obj, list) else obj

    def rewrite(path: Path, f: float) -> None:
        text = path.read_text()
        lines = [json.dumps(scaled(json.loads(line), f)) for line in text.splitlines()] if path.suffix == ".jsonl" \
            else [json.dumps(scaled(json.loads(text), f))]
        path.unlink()  # never through a link into the DVC cache
        path.write_text("\n".join(lines) + "\n")

    training = {"finetuned": "metrics/train", "finetuned_head": "metrics/train_head"}
    for i, method in enumerate(methods):
        f = factors[i % 2]
        for path in root.glob(f"data/predictions/*/{method}*.json*"):
            rewrite(path, f)
        for path in [*root.glob(f"{training.get(method, '-')}/*.json"),
                     *root.glob(f"metrics/curve/*/{method}/*.json")]:
            rewrite(path, f)


def _results(root: Path) -> dict[str, str]:
    """Every result the scoring stages wrote, timing fields left out: what load must not move."""
    import json

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in MEASURED}
        return [strip(v) for v in obj] if isinstance(obj, list) else obj

    out = {}
    for pattern in ("metrics/eval/**/*.json", "metrics/compare/*.json", "metrics/cascade/*.json",
                    "metrics/decision/*.json", "metrics/rows/**/*.json", "metrics/summary.json",
                    "data/predictions/*/cascade*.json*"):
        for path in sorted(root.glob(pattern)):
            lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
            out[str(path.relative_to(root))] = "\n".join(json.dumps(strip(json.loads(x)), sort_keys=True)
                                                          for x in lines)
    return out


def test_no_accuracy_threshold_verdict_or_decision_moves_with_machine_load(repo, tmp_path):
    """Issue 49: a finished pipeline's every recorded timing scaled by 0.2x and by 5x, method by method (as if
    some stages had run on a loaded machine, others on a quiet one), and the scoring stages rerun: every accuracy,
    interval, threshold, verdict, cascade choice and decision is identical, because every cost a choice reads is
    counted work, never measured time."""
    import json

    params = yaml.safe_load((repo / "params.yaml").read_text())
    tasks, methods = params["report"]["tasks"], [m for m in params["report"]["methods"] if m != "cascade"]
    runs = {}
    for name, factors in (("quiet", (1.0, 1.0)), ("loaded", (0.2, 5.0))):  # loaded: half 5x slower, half faster
        copy = runs[name] = tmp_path / name  # both from the same predictions, whatever earlier tests left
        shutil.copytree(repo, copy, symlinks=True, ignore=shutil.ignore_patterns(".dvc", ".git"))
        _scale_timings(copy, methods, factors)
        for task in tasks:
            sh(f"{sys.executable} -m stages.cascade --task {task} --method cascade", copy)
            for m in params["report"]["methods"]:
                sh(f"{sys.executable} -m stages.evaluate --task {task} --method {m}", copy)
            sh(f"{sys.executable} -m stages.compare --task {task}", copy)
            sh(f"{sys.executable} -m stages.decide --task {task}", copy)
        sh(f"{sys.executable} -m stages.report", copy)
    loaded, quiet = _results(runs["loaded"]), _results(runs["quiet"])
    assert loaded.keys() == quiet.keys() and any("decision" in k for k in quiet)
    assert any(json.loads((runs["loaded"] / p).read_text()) != json.loads((runs["quiet"] / p).read_text())
               for p in ("metrics/timings/balanced/finetuned.json", "metrics/timings/balanced/baseline.json"))
    for path, text in quiet.items():
        assert loaded[path] == text, f"{path} moved with the machine's load"


def test_run_task_estimates_from_measured_times_and_sets_the_profile_for_dvc_too(repo):
    """`run_task --dry --quick`: an estimate per stage group from the times this pipeline measured, and the one
    command, with the quick profile's overrides passed to DVC as well (it expands stage lists from params.yaml)."""
    proc = sh(f"{sys.executable} -m stages.run_task balanced --dry --quick", repo)
    assert "estimated time for balanced (quick profile)" in proc.stdout
    assert re.search(r"finetuned \(train \+ predict\)\s+\d+\.\d min", proc.stdout)
    assert "curve_" not in proc.stdout  # the quick profile draws no learning curve
    # what each stage pays before its rows (timed now), and the stages that load the base model
    assert re.search(r"start-up: \d+ stages x \d+\.\d s \(imports \d+\.\d s \+ DVC \d+\.\d s", proc.stdout)
    assert re.search(r"model loads: 7 stages x \d+\.\d s", proc.stdout)
    cmd = proc.stdout.strip().splitlines()[-1]
    assert cmd.startswith("$ dvc exp run -n balanced-quick") and cmd.endswith(" report")
    for s in ("'report.tasks=[\"balanced\"]'", "'learning_curve.tasks=[]'", "profile=quick",
              "evaluate.val_rows=32", "methods.setfit.max_steps=5"):
        assert s in cmd
    proc = sh(f"{sys.executable} -m stages.run_task nope --dry", repo, check=False)
    assert proc.returncode == 2 and "unknown task 'nope'" in proc.stderr
