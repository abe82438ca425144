"""Prompts as data: the study's zero-shot instruction, its JSON variant for several labels, few-shot blocks.

A prompt file (data/prompts/<task>/<name>.json) holds the system text shared by every sample, the labels,
the examples it contains, and how the answer is formatted. Backends only ever read these files.
"""
from __future__ import annotations

import json


def with_prefixes(texts: list[str], user_prefixes: list[str] | None) -> list[tuple[str, str]]:
    """(prefix, text) pairs: each text with its own user-turn prefix (per-sample few-shot examples), or none."""
    return list(zip(user_prefixes or [""] * len(texts), texts, strict=True))


def answer_text(labels: dict[str, str]) -> str:
    """The answer a model should give: the label, or one JSON object of labels (also the fine-tuning target)."""
    if len(labels) == 1:
        return next(iter(labels.values()))
    return json.dumps(labels, ensure_ascii=False)


def zero_shot(labels: dict[str, list[str]], subject: str) -> dict:
    fields = list(labels)
    if len(fields) == 1:
        system = (
            f"You are an expert at classifying {subject}s into the following categories:\n\n"
            + "\n".join(labels[fields[0]])
            + f"\n\nRead the following {subject} then answer with the name of the category which suits it best. "
            "Answer with ONLY the name of the category."
        )
    else:
        template = json.dumps({f: f"<one of the {f} categories>" for f in fields})
        lists = "\n\n".join(f"{f} categories:\n" + "\n".join(labels[f]) for f in fields)
        system = (
            f"You are an expert at classifying {subject}s. Each has {len(fields)} labels.\n\n{lists}\n\n"
            f"Read the following {subject} then answer with ONLY a JSON object in this format:\n{template}"
        )
    return {"system": system, "labels": labels, "fields": fields, "examples": []}


def examples_block(examples: list[dict]) -> str:
    return "\n\n".join(f"Question: {e['text']}\nAnswer: {e['answer']}" for e in examples)


def with_examples(prompt: dict, examples: list[dict]) -> dict:
    if not examples:
        return prompt
    system = prompt["system"] + "\n\nHere are some examples:\n\n" + examples_block(examples)
    return {**prompt, "system": system, "examples": examples}


STATED = "confidence"  # the stated-confidence key of an API answer (0-100): no token probabilities exist there
STATED_SCHEMA = {"type": "integer", "description": "How sure you are that every label above is right, from 0 to 100"}


def answer_schema(fields: list[str], labels: dict[str, list[str]], stated_confidence: bool = False) -> dict:
    """The answer's JSON schema: one enum per field, and with `stated_confidence` an integer the model states (a
    name that is never a label field's, since the fields come first and a clash is refused)."""
    props = {f: {"type": "string", "enum": labels[f]} for f in fields}
    if stated_confidence:
        if STATED in props:
            raise ValueError(f"a label field is called {STATED!r}: it cannot also carry the stated confidence")
        props[STATED] = STATED_SCHEMA
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def answer_budget(fields: list[str], labels: dict[str, list[str]], stated_confidence: bool = False) -> int:
    """Output tokens the longest allowed answer can take: its JSON at a generous 2 characters per token."""
    longest = {f: max(labels[f], key=len) for f in fields} | ({STATED: 100} if stated_confidence else {})
    return len(json.dumps(longest, ensure_ascii=False)) // 2 + 16
