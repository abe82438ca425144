"""Applying a built method to new data: the input file checked as `ingest` checks its raw file, rows classified in
chunks that are kept as they finish (an interrupted run resumes where it stopped), one output row per input row."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

from tqdm.auto import tqdm

from stages.lib import paths
from stages.lib.calibration import row_confidence
from stages.lib.config import Dataset, Params
from stages.lib.data import read_table, require_columns
from stages.lib.errors import PipelineError
from stages.lib.files import atomic_path, content_hash, tree_hash
from stages.lib.methods.base import plan_run
from stages.lib.sampling import render_text


def read_inputs(path: str, dataset: str, spec: Dataset) -> list[dict]:
    """Every row of the file, in order: {"row", "id", "text"}, or {"row", "id", "error"} when it cannot be
    classified."""
    df = read_table(path)
    require_columns(df, [spec.id, *spec.text], dataset, path)
    rows = []
    for n, row in enumerate(df.itertuples(index=False)):
        row = dict(zip(df.columns, row, strict=True))
        fields = {c: row[c].replace("\r\n", "\n").strip() for c in spec.text}
        out = {"row": n, "id": row[spec.id].strip()}  # rows are keyed by position: ids may repeat in new data
        rows.append({**out, "text": render_text(fields)} if any(fields.values()) else {**out, "error": "empty text"})
    return rows


def classify_file(clf, rows: list[dict], output: Path, method: str, fields: list[str], key: str,
                  chunk: int = 64, min_confidence: float | None = None) -> dict:
    # `chunk`: how many rows are kept per write. Not a knob: it trades a rerun's lost work (at most one chunk)
    # against appends, and changes no answer; a paid API run is estimated and budgeted as a whole anyway.
    """Classify `rows` with a fitted classifier into `output` (CSV). Finished chunks go to `<output>.partial`
    first; a rerun whose `key` (see `run_key`) matches skips them. Every row carries its confidence (the method's,
    see README "Confidence"; a cascade's: the answering part's). With `min_confidence`, a row under it (or without a
    confidence) keeps no label: error `low confidence`. Returns counts."""
    partial = output.with_name(output.name + ".partial")
    done = resumable(partial, key)
    partial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [{"key": key}, *done.values()]),
                       encoding="utf-8")
    todo = [r for r in rows if "text" in r and r["row"] not in done]
    plan_run(clf, [{"id": r["id"], "text": r["text"], "labels": {}} for r in todo])  # one estimate for the run
    with tqdm(total=len(todo), desc=f"classify ({len(done)} done before)", unit="row") as bar, \
            open(partial, "a", encoding="utf-8") as f:
        for i in range(0, len(todo), chunk):
            part = todo[i : i + chunk]
            for r, p in zip(
                part, clf.predict([{"id": r["id"], "text": r["text"], "labels": {}} for r in part]), strict=True
            ):
                done[r["row"]] = {"row": r["row"], "pred": p["pred"], "confidence": row_confidence(p, fields),
                                  **({"answered_by": p["answered_by"]} if "answered_by" in p else {})}
                f.write(json.dumps(done[r["row"]], ensure_ascii=False) + "\n")
            f.flush()
            bar.update(len(part))
    with atomic_path(output) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", *fields, "method", "confidence", "error"])
        low = 0
        for r in rows:
            got = done.get(r["row"], {})
            pred, conf = got.get("pred") or {}, got.get("confidence")
            error = r.get("error") or (None if all(pred.get(x) for x in fields) else "answer was not a valid label")
            if not error and min_confidence is not None and (conf is None or conf < min_confidence):
                error, pred, low = "low confidence", {}, low + 1  # abstain: never a guess below the threshold
            answered = f"{method}:{got['answered_by']}" if "answered_by" in got else method
            w.writerow([r["id"], *[pred.get(x) or "" for x in fields], answered,
                        "" if conf is None else f"{conf:.4f}", error or ""])
    partial.unlink()
    return {
        "rows": len(rows),
        "classified": sum("text" in r for r in rows) - low,
        "refused": sum("error" in r for r in rows),
        "low_confidence": low,
    }


def resumable(partial: Path, key: str) -> dict[int, dict]:
    """The finished rows a partial file holds for this `key`: none if it was written by another run; a last line
    cut short by a kill mid-write is dropped, and its rows are done again."""
    if not partial.exists():
        return {}
    lines = partial.read_text(encoding="utf-8").splitlines()
    rows = []
    for n, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if n != len(lines) - 1:
                raise PipelineError(
                    f"{partial}: line {n + 1} is not valid JSON; delete the file to start again"
                ) from None
    if not rows or rows[0].get("key") != key:
        return {}  # another input, task, method, model or adapter: nothing to resume
    return {r["row"]: r for r in rows[1:]}


def run_key(params: Params, path: str, task: str, method: str) -> str:
    """What a partial result must match to be resumed: the input's bytes, the task, the method and every setting
    that decides its answers (its params, the prompted and base models and their registry entries, the Claude
    and fine-tuning sections), and the content of the base model and of the task's adapters, so a rerun after
    `-S model=...` or a retrain starts afresh instead of mixing two models in one file."""
    settings = {"method": params.method(method), "model": params.model, "base_model": params.base_model,
                "models": [params.model_entry(m) for m in sorted({params.model, params.base_model})],
                "claude": params.claude, "finetune": params.finetune, "finetune_head": params.finetune_head}
    h = hashlib.sha256(Path(path).read_bytes() + f"\0{task}\0{method}\0".encode())
    if params.method(method).type == "cascade" and paths.cascade(task).exists():  # its parts and its threshold
        chosen = json.loads(paths.cascade(task).read_text())
        settings |= {"cascade": chosen, "parts": [params.method(chosen[k]) for k in ("cheap", "strong")]}
    h.update(json.dumps(settings, sort_keys=True, default=dataclasses.asdict).encode())
    if paths.BASE_MODEL.exists():
        h.update(content_hash(paths.BASE_MODEL).encode())
    for adapter in (paths.adapter(task), paths.head_adapter(task)):
        if adapter.exists():
            tree_hash(adapter, h)
    return h.hexdigest()[:16]
