"""Applying a built method to new data: the input file checked as `ingest` checks its raw file, rows classified in
chunks that are kept as they finish (an interrupted run resumes where it stopped), one output row per input row."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from tqdm.auto import tqdm

from stages.lib.config import Dataset
from stages.lib.data import read_table, require_columns
from stages.lib.files import atomic_path
from stages.lib.sampling import render_text


def read_inputs(path: str, dataset: str, spec: Dataset) -> list[dict]:
    """Every row of the file, in order: {"row", "id", "text"} or, when it cannot be classified, {"row", "id", "error"}."""
    df = read_table(path)
    require_columns(df, [spec.id, *spec.text], dataset, path)
    rows = []
    for n, row in enumerate(df.itertuples(index=False)):
        row = dict(zip(df.columns, row))
        fields = {c: row[c].replace("\r\n", "\n").strip() for c in spec.text}
        out = {"row": n, "id": row[spec.id].strip()}  # rows are keyed by position: ids may repeat in new data
        rows.append({**out, "text": render_text(fields)} if any(fields.values()) else {**out, "error": "empty text"})
    return rows


def classify_file(clf, rows: list[dict], output: Path, method: str, fields: list[str], key: str,
                  chunk: int = 64) -> dict:
    """Classify `rows` with a fitted classifier into `output` (CSV). Finished chunks go to `<output>.partial`
    first; a rerun with the same input, task and method skips them. Returns counts."""
    partial = output.with_name(output.name + ".partial")
    done: dict[str, dict] = {}
    if partial.exists():
        lines = partial.read_text(encoding="utf-8").splitlines()
        if lines and json.loads(lines[0]).get("key") == key:
            done = {r["row"]: r for r in map(json.loads, lines[1:])}
        else:
            partial.unlink()  # another input or method: nothing to resume
    if not partial.exists():
        partial.write_text(json.dumps({"key": key}) + "\n", encoding="utf-8")
    todo = [r for r in rows if "text" in r and r["row"] not in done]
    with tqdm(total=len(todo), desc=f"classify ({len(done)} done before)", unit="row") as bar, \
            open(partial, "a", encoding="utf-8") as f:
        for i in range(0, len(todo), chunk):
            part = todo[i : i + chunk]
            for r, p in zip(part, clf.predict([{"id": r["id"], "text": r["text"], "labels": {}} for r in part])):
                done[r["row"]] = {"row": r["row"], "pred": p["pred"]}
                f.write(json.dumps(done[r["row"]], ensure_ascii=False) + "\n")
            f.flush()
            bar.update(len(part))
    with atomic_path(output) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", *fields, "method", "error"])
        for r in rows:
            pred = done.get(r["row"], {}).get("pred") or {}
            error = r.get("error") or (None if all(pred.get(x) for x in fields) else "answer was not a valid label")
            w.writerow([r["id"], *[pred.get(x) or "" for x in fields], method, error or ""])
    partial.unlink()
    return {"rows": len(rows), "classified": sum("text" in r for r in rows), "refused": sum("error" in r for r in rows)}


def run_key(path: str, task: str, method: str) -> str:
    """What a partial result must match to be resumed: the input's bytes, the task and the method."""
    return hashlib.sha256(Path(path).read_bytes() + f"\0{task}\0{method}".encode()).hexdigest()[:16]
