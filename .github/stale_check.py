"""Fail when a stage's code or params differ from what its lock file recorded (`dvc.lock`, or `scoring/dvc.lock`
beside the scoring stages' own dvc.yaml): the committed metrics then did not come from the committed code. Runs on
a clean checkout, with no DVC cache, no remote and no outputs: only git-tracked files and params.yaml are compared
with the locks (data deps are other stages' outputs, checked by `dvc repro`).

python .github/stale_check.py     # exit 1, naming each stale stage and what changed
"""
from __future__ import annotations

import subprocess
import sys

from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo


def stale_stages(root: str = ".") -> dict[str, list[str]]:
    tracked = set(subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                                 check=True).stdout.splitlines())
    stale: dict[str, list[str]] = {}
    with Repo(root) as repo:
        for stage in repo.index.stages:
            if not stage.cmd:  # a .dvc-tracked data file, not a pipeline stage
                continue
            if not any(d.hash_info for d in stage.deps if not isinstance(d, ParamsDependency)):
                stale[stage.addressing] = ["not in its lock file (never run)"]
                continue
            changed = []
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    for keys in dep.status().values():
                        changed += [f"param {key} ({why})" for key, why in keys.items()]
                elif (dep.def_path in tracked or dep.def_path.startswith("stages/")) and dep.status():
                    # a tracked file, or a directory of code (data directories are other stages' outputs)
                    changed.append(f"{dep.def_path} (modified)")
            if changed:
                stale[stage.addressing] = changed
    return stale


def lock_file(addressing: str) -> str:
    """'scoring/dvc.yaml:evaluate@x' -> 'scoring/dvc.lock'; a stage of the root dvc.yaml ('task@x') -> 'dvc.lock'."""
    path, _, _ = addressing.rpartition(":")
    return path.removesuffix("dvc.yaml") + "dvc.lock"


def main() -> None:
    stale = stale_stages()
    for stage, changed in stale.items():
        print(f"stale: {stage}: {', '.join(changed)}")
    if stale:
        print(f"{len(stale)} stage(s) changed since their lock was written: run `dvc repro` and commit "
              f"{', '.join(f'`{lock}`' for lock in sorted({lock_file(s) for s in stale}))} and `metrics/`")
        sys.exit(1)
    print("every stage's code and params match its lock file")


if __name__ == "__main__":
    main()
