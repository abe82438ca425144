"""Every stage depends on exactly the code it runs, and the layout says what is a stage and what is library.

The closure is computed from the source with `ast`: every `import`/`from` of a project module, imports inside
functions included, and the packages above each module. A package `__init__` that holds only a docstring runs
no code, so it needs no dep."""
import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PIPELINES, ROOT

SPECS = {f: yaml.safe_load((ROOT / f).read_text()) for f in PIPELINES}
STAGES = {name: body for spec in SPECS.values() for name, body in spec["stages"].items()}


def module_file(mod: str) -> Path | None:
    p = ROOT.joinpath(*mod.split("."))
    for cand in (p.with_suffix(".py"), p / "__init__.py"):
        if cand.exists():
            return cand
    return None


def imports(path: Path, mod: str) -> list[str]:
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out += [base] + [f"{base}.{a.name}" for a in node.names]
    parts = mod.split(".")
    return out + [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(mod: str) -> tuple[set[str], set[str]]:
    """(project files, top-level external modules) that `python -m mod` can import."""
    files, external, todo = set(), set(), [mod]
    while todo:
        m = todo.pop()
        f = module_file(m)
        if f is None:
            if not module_file(m.rpartition(".")[0] or m) and m:  # `from pkg import name` of a non-module name
                external.add(m.split(".")[0])
            continue
        rel = f.relative_to(ROOT).as_posix()
        if rel in files:
            continue
        files.add(rel)
        todo += imports(f, m)
    return files, external


def runs_code(rel: str) -> bool:
    body = ast.parse((ROOT / rel).read_text()).body
    return not (rel.endswith("__init__.py") and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                                                   for n in body))


def stage_closure(name: str) -> tuple[set[str], set[str]]:
    body = STAGES[name].get("do", STAGES[name])
    mods = re.findall(r"-m ([\w.]+)", body["cmd"])
    assert mods, f"stage {name}: command does not run a project module"
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
    ("baseline", ["backends/", "finetuning/", "methods/llm.py"], ["torch", "transformers", "anthropic"]),
    ("base_model", ["templates.py", "methods/", "backends/", "fewshot.py"], ["anthropic", "trl"]),
    ("zero_shot", ["finetuning/"], ["trl"]),
    ("finetuned", ["finetuning/", "backends/claude/"], ["trl", "anthropic"]),
    ("finetune", ["backends/", "methods/"], ["anthropic"]),
    ("evaluate", ["backends/", "methods/", "finetuning/"], ["torch", "anthropic"]),
    ("report", ["backends/", "methods/", "finetuning/"], ["anthropic", "transformers"]),
])
def test_closures_are_narrow(name, forbidden_files, forbidden_modules):
    files, external = stage_closure(name)
    assert not [f for f in files if any(x in f for x in forbidden_files)], files
    assert not external & set(forbidden_modules), external & set(forbidden_modules)


def test_the_test_catches_a_missing_dep(tmp_path, monkeypatch):
    """The check above can fail: drop one dep from a stage and it is named."""
    body = dict(STAGES["evaluate"])
    body["deps"] = [d for d in body["deps"] if d != "stages/lib/scoring.py"]
    monkeypatch.setitem(STAGES, "evaluate", body)
    with pytest.raises(AssertionError, match="stage evaluate: deps miss stages/lib/scoring.py"):
        test_deps_cover_every_imported_project_file("evaluate")
    body = dict(STAGES["baseline"]["do"])  # a directory dep holding a module the stage never imports
    body["deps"] = [*body["deps"], "stages/lib/methods/"]
    monkeypatch.setitem(STAGES, "baseline", {"foreach": STAGES["baseline"]["foreach"], "do": body})
    with pytest.raises(AssertionError, match="which its command never imports"):
        test_deps_cover_every_imported_project_file("baseline")


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
    commands += " stages.classify "  # the one command that is not a stage: it applies a built method to new data
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


@pytest.mark.parametrize("name", ["ingest", "split", "task", "prompt", "mine_examples", "baseline", "evaluate",
                                  "compare", "report"])
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
