"""Reading a raw dataset file against its `datasets:` entry in params.yaml, and normalising its labels."""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stages.lib.config import Dataset
from stages.lib.errors import PipelineError

_SPACE = re.compile(r"\s+")


def normalise_label(value: str) -> str:
    """Strip and collapse inner whitespace: `" Cuts,  lacerations"` and `"Cuts, lacerations"` are one class."""
    return _SPACE.sub(" ", value).strip()


@dataclass
class IngestReport:
    rows_read: int = 0
    rows_kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    label_changes: dict = field(default_factory=dict)  # field -> {raw: normalised} where they differ

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(sorted(self.dropped.items())),
        }


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV as strings. Refuses a missing, empty or non-UTF-8 file with the position of the problem."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PipelineError(
            f"{path}: line {line}: not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
        ) from None
    if not text.strip():
        raise PipelineError(f"{path}: file is empty")
    try:
        # newline="" semantics: quoted newlines stay in their field, \r\n and \n both end a row.
        df = pd.read_csv(io.StringIO(text, newline=""), dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise PipelineError(f"{path}: not a readable CSV ({e})") from None
    df.columns = [c.strip() for c in df.columns]
    return df


def require_columns(df: pd.DataFrame, columns: list[str], name: str, source: str) -> None:
    """The columns a dataset entry names are there, and so is at least one row; else one line saying which."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PipelineError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))} required by datasets.{name} "
            f"(found: {', '.join(df.columns[:12])}{' …' if len(df.columns) > 12 else ''})"
        )
    if df.empty:
        raise PipelineError(f"{source}: has a header but no rows")


def ingest(df: pd.DataFrame, name: str, spec: Dataset, source: str) -> tuple[list[dict], IngestReport]:
    """Validate columns, normalise labels, drop unusable rows; return records and what was done to get them."""
    require_columns(df, [spec.id, *spec.text, *spec.labels], name, source)
    for col in spec.labels:
        if not df[col].str.strip().any():
            raise PipelineError(f"{source}: label column {col!r} is empty in every row")
    if not df[spec.text].apply(lambda s: s.str.strip().astype(bool)).any(axis=None):
        raise PipelineError(f"{source}: text column(s) {spec.text} are empty in every row")

    report = IngestReport(rows_read=len(df))
    records, seen = [], set()
    for row in df.itertuples(index=False):
        row = dict(zip(df.columns, row, strict=True))
        rid = row[spec.id].strip()
        texts = {c: row[c].replace("\r\n", "\n").strip() for c in spec.text}
        labels = {}
        for col in spec.labels:
            label = normalise_label(row[col])
            if label != row[col]:
                report.label_changes.setdefault(col, {})[row[col]] = label
            labels[col] = label
        if not rid:
            report.dropped["empty id"] += 1
        elif rid in seen:
            report.dropped["duplicate id"] += 1
        elif not any(texts.values()):
            report.dropped["empty text"] += 1
        elif not all(labels.values()):
            report.dropped["empty label"] += 1
        else:
            seen.add(rid)
            records.append({"id": rid, "fields": texts, "labels": labels})
    report.rows_kept = len(records)
    return records, report
