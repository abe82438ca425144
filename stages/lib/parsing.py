"""Reading answers back into labels: a structured-output answer (Claude's JSON schema, vLLM's choice or schema),
and a freely generated one (the `generate` mode).

A structured answer must be a label exactly (or a JSON object of them); anything else is invalid, never guessed.

Rules, strict on purpose (the study's prefix matching read "Cuts" as whichever "Cuts…" class sorted first):
- one field: the first non-empty line, minus a leading "Answer:"/"Category:", surrounding quotes, asterisks
  and a trailing period, must equal a label ignoring case and runs of whitespace; otherwise it is invalid (None).
- several fields: the first JSON object in the text; each field's value must match a label by the same rule.
  A missing key or an unknown value makes that field invalid; extra keys are ignored.
"""
from __future__ import annotations

import json
import re

from stages.lib.data import normalise_label

_LEAD = re.compile(r"^\s*(answer|category|label)\s*:\s*", re.I)


def _key(s: str) -> str:
    return normalise_label(s).casefold()


def match_label(answer: str, labels: list[str]) -> str | None:
    lines = [ln for ln in str(answer).splitlines() if ln.strip()]
    if not lines:
        return None
    text = _LEAD.sub("", lines[0]).strip().strip("*`\"'").strip()
    text = text[:-1] if text.endswith(".") and _key(text) not in {_key(lb) for lb in labels} else text
    by_key = {_key(lb): lb for lb in labels}
    return by_key.get(_key(text))


def parse_json_answer(answer: str, fields: list[str], labels: dict[str, list[str]]) -> dict[str, str | None]:
    start = answer.find("{")
    obj = None
    while start != -1 and obj is None:
        try:
            obj, _ = json.JSONDecoder().raw_decode(answer[start:])
        except json.JSONDecodeError:
            start = answer.find("{", start + 1)
    if not isinstance(obj, dict):
        return {f: None for f in fields}
    return {f: match_label(obj[f], labels[f]) if isinstance(obj.get(f), str) else None for f in fields}


def parse_answer(answer: str, fields: list[str], labels: dict[str, list[str]]) -> dict[str, str | None]:
    if len(fields) == 1:
        return {fields[0]: match_label(answer, labels[fields[0]])}
    return parse_json_answer(answer, fields, labels)


def structured_labels(text: str, fields: list[str], labels: dict[str, list[str]],
                      as_json: bool = True) -> dict[str, str | None]:
    """A structured-output answer back to labels: one JSON object of labels, or (`as_json=False`, one field) the
    label itself. A value outside a field's labels, a missing key or a non-object answer is invalid (None)."""
    if not as_json:
        return {fields[0]: text if text in labels[fields[0]] else None}
    try:
        obj = json.loads(text)
        return {f: obj.get(f) if obj.get(f) in labels[f] else None for f in fields}
    except (json.JSONDecodeError, AttributeError):
        return {f: None for f in fields}


def stated_confidence(text: str, key: str) -> float | None:
    """The confidence an API model stated in its structured answer, as a fraction (0-100 -> 0-1); None where it
    is missing, not an integer or out of range. A statement, not a probability: the report calibrates it first."""
    try:
        value = json.loads(text).get(key)
    except (json.JSONDecodeError, AttributeError):
        return None
    return value / 100 if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100 else None
