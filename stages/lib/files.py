"""Files in, files out: JSON/JSONL, and atomic writes so that nothing half-written ever looks like a result."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from stages.lib.errors import PipelineError


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling of `path` (file or directory); rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_json(path: Path | str, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")


def read_json(path: Path | str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_jsonl(path: Path | str, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n")


def read_jsonl(path: Path | str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise PipelineError(f"{path}: line {n}: not valid JSON ({e.msg})") from None
    return rows


CONTENT_HASH = "content.sha256"  # a directory's tree_hash, stored in it by the stage that wrote it


def tree_hash(path: Path | str, h=None) -> str:
    """SHA-256 of a file, or of every file under a directory with its relative name (in sorted order; a stored
    CONTENT_HASH file is not part of it)."""
    path, h = Path(path), h or hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != CONTENT_HASH) if path.is_dir() else [path]
    for file in files:
        h.update(f"\0{file.relative_to(path).as_posix() if path.is_dir() else file.name}\0".encode())
        with open(file, "rb") as f:
            while chunk := f.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()


def content_hash(directory: Path | str) -> str:
    """The directory's content hash: the one stored beside its files when they were written (hashed once, by
    the stage that made them), or computed now."""
    stored = Path(directory, CONTENT_HASH)
    return stored.read_text().strip() if stored.exists() else tree_hash(directory)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
