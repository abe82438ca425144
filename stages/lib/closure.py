"""The project files a `python -m <module>` command can import: the static closure over `import`/`from`
statements (imports inside functions included) and the packages above each module. `stages.lib.pipeline` lists
it as each stage's code deps; tests/test_layout.py checks every stage against it. A package `__init__` that
holds only a docstring runs no code, so it needs no dep."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_file(mod: str, root: Path = ROOT) -> Path | None:
    p = root.joinpath(*mod.split("."))
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


def closure(mod: str, root: Path = ROOT) -> tuple[set[str], set[str]]:
    """(project files, top-level external modules) that `python -m mod` can import."""
    files, external, todo = set(), set(), [mod]
    while todo:
        m = todo.pop()
        f = module_file(m, root)
        if f is None:
            if not module_file(m.rpartition(".")[0] or m, root) and m:  # `from pkg import name`: not a module
                external.add(m.split(".")[0])
            continue
        rel = f.relative_to(root).as_posix()
        if rel in files:
            continue
        files.add(rel)
        todo += imports(f, m)
    return files, external


def runs_code(rel: str, root: Path = ROOT) -> bool:
    body = ast.parse((root / rel).read_text()).body
    return not (rel.endswith("__init__.py") and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                                                   for n in body))


def code_deps(*modules: str, root: Path = ROOT) -> list[str]:
    """The files of the modules' closures that run code, sorted: a stage's code deps."""
    files = set().union(*(closure(m, root)[0] for m in modules))
    return sorted(f for f in files if runs_code(f, root))
