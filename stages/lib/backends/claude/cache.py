"""Every response kept on disk under the hash of its request, so nothing is paid for twice."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stages.lib.files import atomic_path


class ResponseCache:
    """`<dir>/<request hash>.json` per answer, and `<dir>/batches/` for batches sent but not yet collected. The
    default directory is the per-user cache, shared by checkouts and `dvc exp run --queue` copies."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.batches = self.dir / "batches"

    @staticmethod
    def key(req: dict) -> str:
        """The request without `max_tokens`, which only cuts an answer short and never changes it (cut answers
        are not cached), so a rerun with a larger allowance resends only the answers that ran out."""
        return hashlib.sha256(json.dumps({k: v for k, v in req.items() if k != "max_tokens"},
                                         sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        path = self.dir / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, key: str, entry: dict) -> None:
        with atomic_path(self.dir / f"{key}.json") as tmp:
            tmp.write_text(json.dumps(entry))

    def __str__(self) -> str:
        return str(self.dir)
