"""Every stage depends on exactly the code it runs, and the layout says what is a stage and what is library.

The closure (stages/lib/closure.py) is computed from the source with `ast`: every `import`/`from` of a project
module, imports inside functions included, and the packages above each module. The pipeline files are written
from it (stages/lib/pipeline.py); these tests check the files as DVC reads them."""
import re
import sys

import pytest
import yaml

from stages.lib.closure import closure, runs_code
from stages.lib.config import load_params
from stages.lib.methods.registry import SHARDING, TRAIN_POINT, spec_module, type_spec
from tests.conftest import PIPELINES, ROOT

SPECS = {f: yaml.safe_load((ROOT / f).read_text()) for f in PIPELINES}
STAGES = {name: body for spec in SPECS.values() for name, body in spec["stages"].items()}


PARAMS = load_params(ROOT / "params.yaml")
BUILDS = ("stages.predict", "stages.curve", "stages.seed_run")  # the stages that build a method's classifier


def spec(name: str) -> str:
    return spec_module(PARAMS.methods[name]["type"])


def stage_closure(name: str) -> tuple[set[str], set[str]]:
    """What the stage's command can run: its `-m` modules' closures, plus what the method registry imports by name
    for it: the spec module of each method whose params it reads, and for a stage that builds a method's classifier
    (`--method m`) its builder and trainer. tests/test_pipeline.py checks the same against a real run's imports."""
    body = STAGES[name].get("do", STAGES[name])
    mods = re.findall(r"-m ([\w.]+)", body["cmd"])
    assert mods, f"stage {name}: command does not run a project module"
    if method := re.search(r"--method (\w+)", body["cmd"]):
        cfg = PARAMS.method(method.group(1))
        mods += [spec(method.group(1))] + ([spec(cfg.mine_from)] if getattr(cfg, "mine_from", None) else [])
    if mods[0] in ("stages.cascade", "stages.report", "stages.decide", "stages.labels"):  # every method of the grid
        mods += [spec(m) for m in PARAMS.report.methods]
    if method and mods[0] in BUILDS:
        kind = type_spec(PARAMS.method(method.group(1)).type)
        mods += [kind.build.partition(":")[0]]
        if kind.train and not mods[0].endswith(".predict"):  # curve and seed points train their own adapter
            mods += [kind.train.partition(":")[0], TRAIN_POINT.partition(":")[0]]
        if kind.sharded and mods[0].endswith(".predict"):
            mods += [SHARDING]
    files, external = set(), set()
    for m in mods:
        f, e = closure(m)
        files |= f
        external |= e
    return files, external


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_every_imported_project_file(name):
    body = STAGES[name].get("do", STAGES[name])
    deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
    files, _ = stage_closure(name)
    missing = sorted(f for f in files if runs_code(f)
                     and not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))
    assert not missing, f"stage {name}: deps miss {', '.join(missing)}"
    listed = sorted(d for d in deps if d.endswith(".py") and d not in files)
    listed += sorted(p.relative_to(ROOT).as_posix() for d in deps if d.startswith("stages/") and d.endswith("/")
                     for p in (ROOT / d).rglob("*.py") if p.relative_to(ROOT).as_posix() not in files)
    assert not listed, f"stage {name}: deps list {', '.join(listed)}, which its command never imports"


@pytest.mark.parametrize("name, forbidden_files, forbidden_modules", [
    ("predict_baseline", ["backends/", "finetuning/", "methods/llm.py"], ["torch", "transformers", "anthropic"]),
    ("base_model", ["templates.py", "methods/", "backends/", "fewshot.py"], ["anthropic", "trl"]),
    ("predict_zero_shot", ["finetuning/", "methods/tfidf.py", "head_classifier"], ["trl"]),
    ("predict_few_shot_knn", ["finetuning/", "adapters/"], ["trl"]),
    ("predict_finetuned", ["finetuning/", "backends/claude/", "methods/prompt_method.py"], ["trl", "anthropic"]),
    ("predict_finetuned_head", ["backends/", "finetuning/"], ["trl", "anthropic"]),
    ("curve_baseline", ["backends/", "finetuning/"], ["torch", "anthropic"]),
    ("finetune", ["backends/", "methods/"], ["anthropic"]),
    ("evaluate", ["backends/", "methods/", "finetuning/"], ["torch", "anthropic"]),
    ("report", ["backends/", "methods/", "finetuning/"], ["anthropic", "transformers"]),
])
def test_closures_are_narrow(name, forbidden_files, forbidden_modules):
    """Every stage reads params through config, which reads the method registry, and a stage that reads a method's
    params reads its type's spec: names and params dataclasses only (builders are imported by name, by the stage
    that runs them)."""
    files, external = stage_closure(name)
    files = {f for f in files if not f.endswith(("methods/__init__.py", "methods/registry.py", "_spec.py"))}
    assert not [f for f in files if any(x in f for x in forbidden_files)], files
    assert not external & set(forbidden_modules), external & set(forbidden_modules)


def test_the_test_catches_a_missing_dep(tmp_path, monkeypatch):
    """The check above can fail: drop one dep from a stage and it is named."""
    body = dict(STAGES["evaluate"])
    body["deps"] = [d for d in body["deps"] if d != "stages/lib/scoring.py"]
    monkeypatch.setitem(STAGES, "evaluate", body)
    with pytest.raises(AssertionError, match="stage evaluate: deps miss stages/lib/scoring.py"):
        test_deps_cover_every_imported_project_file("evaluate")
    body = dict(STAGES["predict_baseline"]["do"])  # a directory dep holding a module the stage never imports
    body["deps"] = [*body["deps"], "stages/lib/methods/"]
    monkeypatch.setitem(STAGES, "predict_baseline", {"foreach": STAGES["predict_baseline"]["foreach"], "do": body})
    with pytest.raises(AssertionError, match="which its command never imports"):
        test_deps_cover_every_imported_project_file("predict_baseline")
    body = dict(STAGES["predict_finetuned"]["do"])  # the builder the registry imports by name is a dep too
    body["deps"] = [d for d in body["deps"] if d != "stages/lib/methods/finetuned.py"]
    monkeypatch.setitem(STAGES, "predict_finetuned", {"foreach": "${tasks}", "do": body})
    with pytest.raises(AssertionError, match="deps miss stages/lib/methods/finetuned.py"):
        test_deps_cover_every_imported_project_file("predict_finetuned")


def test_the_pipeline_files_are_what_the_stage_table_gives():
    """dvc.yaml and scoring/dvc.yaml are written by `python -m stages.lib.pipeline`; a hand edit, a new import or
    a new method without regenerating them fails here."""
    from stages.lib.pipeline import render

    for path, text in render(PARAMS).items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path}: run python -m stages.lib.pipeline"


def test_a_method_stage_reads_only_its_own_inputs():
    """A nearest-neighbour stage never depends on an adapter; a fine-tuned one on its own adapter only."""
    deps = {name: STAGES[name]["do"]["deps"] for name in STAGES if name.startswith("predict_")}
    assert not [d for d in deps["predict_few_shot_knn"] if d.startswith(("models/adapters", "models/head_adapters",
                                                                         "metrics/train"))]
    assert "models/adapters/${key}" in deps["predict_finetuned"]
    assert not [d for d in deps["predict_finetuned"] if "head_adapters" in d or d.startswith("data/prompts")]
    assert not [d for d in deps["predict_baseline"] if d.startswith("models/")]


def test_an_option_not_in_use_adds_no_dep():
    """kNN few-shot reads an encoder only with `retriever: embedding`: TF-IDF's stage neither depends on one nor
    reruns when it changes."""
    from dataclasses import replace
    from types import SimpleNamespace

    from stages.lib.config import load_params
    from stages.lib.pipeline import method_params, reads

    params = load_params()
    assert params.method("few_shot_knn").retriever == "tfidf"
    assert not [d for d in reads(params, "few_shot_knn", "t") if "encoders" in d]
    assert not [p for p in method_params(params, "few_shot_knn") if p.startswith("encoders")]
    embedding = replace(params.method("few_shot_knn"), retriever="embedding", encoder="minilm")
    with_embedding = SimpleNamespace(method=lambda name: embedding)  # the same stage with the embedding retriever
    assert "models/encoders/minilm" in reads(with_embedding, "few_shot_knn", "t")
    assert "encoders.minilm" in method_params(with_embedding, "few_shot_knn")


def test_no_stage_module_imports_another():
    """Entry points call the library, never each other: a stage's builder lives in the library, where every
    consumer (classify, the learning curve, the seed spread) reaches it through the method registry."""
    for p in sorted((ROOT / "stages").glob("*.py")):
        mods = {m for m in closure(f"stages.{p.stem}")[0] if m.count("/") == 1 and not m.endswith("__init__.py")}
        assert mods == {f"stages/{p.name}"} or p.name == "__init__.py", f"{p.name} imports {mods - {p.name}}"


def test_every_pipeline_file_is_known_and_runs_its_stages_from_the_root():
    """The tools here (this test, bench.profile, the stale check) read stages by name from these files, with paths
    relative to the root: so no name twice, every stage of a file below the root runs with `wdir` at the root, and
    its vars come from the root's params.yaml (DVC would otherwise look for one beside that file)."""
    found = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.rglob("dvc.yaml")
                   if not p.relative_to(ROOT).parts[0].startswith((".", "data", "metrics", "models")))
    assert found == sorted(PIPELINES)
    assert sum(len(spec["stages"]) for spec in SPECS.values()) == len(STAGES), "a stage name in two pipeline files"
    for f, spec in SPECS.items():
        depth = f.count("/")
        if not depth:
            continue
        up = "/".join([".."] * depth)
        assert spec.get("vars") == [f"{up}/params.yaml"], f
        for name, stage in spec["stages"].items():
            assert stage.get("do", stage).get("wdir") == up, f"{f}: stage {name} does not run from the root"


def test_stage_modules_are_short_entry_points_and_library_names_are_distinct():
    entry = sorted(p for p in (ROOT / "stages").glob("*.py") if p.name != "__init__.py")
    commands = " ".join(STAGES[s].get("do", STAGES[s])["cmd"] for s in STAGES)
    commands += " stages.classify stages.add_data stages.run_task "  # commands, not stages (docs/pipeline.md)
    for p in entry:
        assert f"stages.{p.stem} " in commands + " ", f"{p.name} is not a stage's entry point"
        assert len(p.read_text().splitlines()) <= 60, f"{p.name} is longer than an entry point should be"
        assert "def main()" in p.read_text()
    modules = [p.stem for p in (ROOT / "stages").rglob("*.py") if p.stem != "__init__"]
    twice = sorted({m for m in modules if modules.count(m) > 1})
    assert not twice, f"two modules with one name: {twice}"
    assert not set(modules) & set(sys.stdlib_module_names), set(modules) & set(sys.stdlib_module_names)
    stems = {re.sub(r"(s|ing|ed|ion)$", "", m) for m in modules}
    assert len(stems) == len(set(modules)), f"names differing only by a suffix: {sorted(modules)}"


HEAVY = {"torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets", "vllm"}


@pytest.mark.parametrize("name", ["ingest", "split", "task", "prompt", "mine_few_shot", "predict_baseline",
                                  "curve_baseline", "evaluate", "compare", "report"])
def test_stages_that_run_no_model_import_no_model_library(name):
    """Not even lazily: a stage that never touches a model must not pay for importing one."""
    _, external = stage_closure(name)
    assert not external & HEAVY, f"stage {name} imports {sorted(external & HEAVY)}"


@pytest.mark.parametrize("name", ["evaluate", "compare"])
def test_scoring_stages_import_no_sklearn_or_scipy(name):
    """Run 24 times per `dvc repro`: their start-up is most of their time, and scikit-learn plus SciPy alone took
    longer to import than the scoring (per-class figures, McNemar) they were used for."""
    _, external = stage_closure(name)
    assert not external & {"sklearn", "scipy"}, f"stage {name} imports {sorted(external & {'sklearn', 'scipy'})}"
