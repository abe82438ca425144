"""No stage reaches for the network: bitsandbytes' kernel-hub download (tried at import on CPUs with AVX512-BF16,
so on every import of peft, trl or sentence-transformers) never runs, and its warning never prints."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Makes bitsandbytes believe the CPU has AVX512-BF16 (this machine may not), so its hub attempt runs here, and
# makes the installed `kernels` package say when it is asked for a hub kernel (and fail, as offline).
PATCH = """
import importlib.machinery, sys

def has_avx512bf16():
    return True

def get_kernel(repo, **kwargs):
    print("HUB ASKED", repo, file=sys.stderr)
    raise RuntimeError("no network")

PATCHES = {"bitsandbytes.functional": {"has_avx512bf16": has_avx512bf16}, "kernels": {"get_kernel": get_kernel}}

class Patch:
    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            vars(module).update(PATCHES[name])
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Patch())
"""


def _stderr(tmp_path, imports: str) -> str:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", PATCH + imports], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return run.stderr


def test_without_the_guard_bitsandbytes_asks_the_hub_and_warns(tmp_path):
    err = _stderr(tmp_path, "import peft")
    assert "HUB ASKED kernels-community" in err and "Failed to load CPU gemm_4bit_forward" in err


def test_the_stages_library_never_asks_the_hub_nor_warns(tmp_path):
    err = _stderr(tmp_path, "import stages.lib.finetuning.model\nimport peft, trl, sentence_transformers")
    assert "HUB" not in err and "kernels-community" not in err, err
