"""The typed view of params.yaml: the shipped file loads; a wrong, missing or unknown key is named in one line."""
import subprocess
import sys

import pytest
import yaml

from stages.lib.config import Finetune, Params, load_params
from stages.lib.errors import PipelineError
from stages.lib.methods.prompt_spec import PromptMethod
from tests.conftest import ROOT

RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def write(tmp_path, edit):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_params_load_typed():
    p = load_params(ROOT / "params.yaml")
    assert isinstance(p, Params) and isinstance(p.finetune, Finetune)
    assert isinstance(p.method("few_shot"), PromptMethod) and p.method("few_shot").classes == 5
    assert p.models["sonnet"].prices.input > 0 and p.models["sonnet"].min_cache_tokens > 0


def test_each_recipe_starts_from_the_shared_block_and_overrides_what_differs(tmp_path):
    p = load_params(ROOT / "params.yaml")
    assert p.finetune.r == p.finetune_head.r == RAW["recipe"]["r"]  # shared, written once
    assert (p.finetune.learning_rate, p.finetune_head.learning_rate) == (RAW["recipe"]["learning_rate"],
                                                                         RAW["finetune_head"]["learning_rate"])
    p = load_params(write(tmp_path, lambda r: r["recipe"].update(r=4)))
    assert p.finetune.r == p.finetune_head.r == 4
    p = load_params(write(tmp_path, lambda r: r["finetune"].update(r=2)))
    assert (p.finetune.r, p.finetune_head.r) == (2, RAW["recipe"]["r"])


def test_cpu_precision_is_auto_true_or_false(tmp_path):
    """`cpu_autocast` is `bool | str`: YAML's true and false stay booleans, `auto` a string (stages.lib.cpu)."""
    assert load_params(ROOT / "params.yaml").finetune.cpu_autocast == "auto"
    p = load_params(write(tmp_path, lambda r: r["finetune"].update(cpu_autocast=False)))
    assert p.finetune.cpu_autocast is False and p.models["smollm2"].cpu_dtype == "auto"


def test_params_rewritten_by_dvc_exp_run_keep_no_and_off_as_strings(tmp_path):
    """`dvc exp run -S` rewrites params.yaml through ruamel, which drops the quotes around "no" and "off": the
    stages read YAML 1.2 as DVC does, so they stay strings (PyYAML would read booleans and refuse them)."""
    from dvc.utils.serialize import modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    with modify_yaml(path) as data:
        data["seed"] = 7
    text = path.read_text()
    assert "eval_strategy: no " in text and "thinking: off " in text  # unquoted, as DVC writes them
    p = load_params(path)
    assert (p.seed, p.finetune_head.eval_strategy, p.claude.thinking) == (7, "no", "off")


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["finetune"].update(lerning_rate=1), r"finetune.lerning_rate: unknown key"),
    (lambda r: r["recipe"].pop("gradient_accumulation_steps"), r"finetune.gradient_accumulation_steps: missing"),
    (lambda r: r["recipe"].update(epochz=1), r"recipe.epochz: unknown key"),
    (lambda r: r["finetune"].update(epochs="two"), r"finetune.epochs must be float, got 'two'"),
    (lambda r: r["finetune"].update(batch_size=True), r"finetune.batch_size must be int"),
    (lambda r: r["tasks"]["balanced"].update(dataset="nope"), r"unknown dataset 'nope'"),
    (lambda r: r["tasks"]["balanced"].update(labels=["EventTitle"]), r"tasks.balanced.labels \['EventTitle'\]"),
    (lambda r: r["methods"]["zero_shot"].update(type="magic"), r"methods.zero_shot.type 'magic'"),
    (lambda r: r["models"]["sonnet"].pop("min_cache_tokens"), r"models.sonnet: min_cache_tokens is missing"),
    (lambda r: r["models"]["smollm2"].update(cpu_dtype="float16"), r"models.smollm2.cpu_dtype 'float16'"),
    (lambda r: r["finetune"].update(cpu_autocast="sometimes"), r"cpu_autocast 'sometimes' is not one of true, fa"),
    (lambda r: r["finetune_head"].update(cpu_autocast=1), r"finetune_head.cpu_autocast 1 is not one of true"),
    (lambda r: r["report"].update(methods=["baseline", "oracle"]), r"unknown method 'oracle'"),
    (lambda r: r.update(model="gpt"), r"unknown model 'gpt'"),
    (lambda r: r["evaluate"].update(recalibration="platt"), r"evaluate.recalibration 'platt' is not one"),
    (lambda r: r["tasks"]["imbalanced"].pop("min_count"), r"tasks.imbalanced: imbalanced sampling needs min_count"),
    (lambda r: r["finetune"].update(seeds=[1, 1]), r"finetune: seeds \[1, 1\] must be distinct"),
    (lambda r: r.update(profile="fast"), r"profile 'fast' is not one of full, quick"),
    (lambda r: r.update(profile="quick", profiles={"quick": {"recipe.epochz": 1}}),
     r"profiles.quick: .recipe.epochz. is not a key"),
    (lambda r: r["costs"].update(hardware="tpu"), r"unknown costs.profiles entry 'tpu'"),
    (lambda r: r["decision"].update(min_accuracy=80), r"decision: min_accuracy must be in \[0, 1\]"),
])
def test_bad_params_are_named(tmp_path, edit, message):
    with pytest.raises(PipelineError, match=message):
        load_params(write(tmp_path, edit))


@pytest.mark.parametrize("method, edit, message", [
    ("zero_shot", {"mode": "guess"}, r"methods.zero_shot.mode 'guess' is not one of constrained, generate"),
    ("cascade", {"rule": "budget"}, r"methods.cascade: rule budget needs max_cost"),
    ("few_shot", {"mine_from": None}, r"methods.few_shot: mined few-shot needs mine_from"),
    ("baseline", {"C": "big"}, r"methods.baseline.C must be a list"),
])
def test_a_method_is_read_and_checked_by_its_type_when_used(tmp_path, method, edit, message):
    """Only a stage that uses a method reads its params (and depends on its type's spec module)."""
    p = load_params(write(tmp_path, lambda r: r["methods"][method].update(edit)))
    with pytest.raises(PipelineError, match=message):
        p.method(method)


def test_a_stage_refuses_bad_params_with_one_line_and_exit_2(tmp_path):
    write(tmp_path, lambda r: r["split"].update(sede=1))
    proc = subprocess.run([sys.executable, "-m", "stages.split", "--dataset", "osha"], cwd=tmp_path, text=True,
                          capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: params.yaml: split.sede: unknown key (known: val, test, seed)"


def test_every_param_is_documented_once_and_the_readme_table_is_current(monkeypatch):
    from stages.lib import params_doc

    rows = params_doc.rows()
    assert rows and all(help.strip() for _, _, help in rows)
    readme = params_doc.README.read_text(encoding="utf-8")
    assert params_doc.rewritten(readme) == readme, "run python -m stages.lib.params_doc"
    monkeypatch.setattr(params_doc, "table", lambda: "| changed |")  # a stale table is caught
    assert params_doc.rewritten(readme) != readme


def test_a_profile_overrides_the_keys_it_names_and_the_subject_words_the_system_turn(tmp_path):
    full = load_params(write(tmp_path, lambda r: None))
    quick = load_params(write(tmp_path, lambda r: r.update(profile="quick")))
    assert (full.finetune.max_train_samples, quick.finetune.max_train_samples) == (None, 64)  # every row by default
    assert full.finetune_head.search and not quick.finetune_head.search and quick.finetune.min_steps == 0
    assert quick.finetune_head.max_train_samples == 64 and quick.evaluate.val_rows == 32  # recipe reaches both
    assert quick.learning_curve.tasks == [] and quick.seed_spread.tasks == []
    assert full.learning_curve.tasks == ["imbalanced"] and quick.method("setfit").max_steps == 5
    assert full.finetune_for("balanced").system == "Classify the OSHA injury report."  # the study's wording kept
    assert full.subject("balanced") == "OSHA injury report"
    neutral = load_params(write(tmp_path, lambda r: r["datasets"]["osha"].pop("subject")))
    assert neutral.finetune_for("balanced").system == "Classify the text."  # neutral by default


def test_ctrl_c_in_a_stage_ends_with_one_line_saying_what_was_kept(capsys):
    from stages.lib.cli import run

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as ended:
        run(interrupted)
    err = capsys.readouterr().err
    assert ended.value.code == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert "Traceback" not in err and "the same command resumes" in err
