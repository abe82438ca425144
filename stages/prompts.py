"""Prompts as data: the study's zero-shot instruction, its JSON variant for several labels, few-shot blocks.

A prompt file (data/prompts/<task>/<name>.json) holds the system text shared by every sample, the labels,
the examples it contains, and how the answer is formatted. Backends only ever read these files.
"""
from __future__ import annotations

import json
from collections import Counter

from stages.io import PipelineError


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


def mine_errors(val_predictions: list[dict], fields: list[str], top: int) -> list[dict]:
    """The study's few-shot recipe, on validation only: the classes most often mispredicted (per field), each
    with what it was most often mistaken for. Ties broken by class name for determinism."""
    errors = Counter()
    confused: dict[tuple, Counter] = {}
    for p in val_predictions:
        for f in fields:
            true, pred = p["true"][f], (p["pred"] or {}).get(f)
            if pred != true:
                errors[(f, true)] += 1
                confused.setdefault((f, true), Counter())[pred or "<invalid>"] += 1
    worst = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"field": f, "label": lb, "errors": n, "mistaken_for": confused[(f, lb)].most_common(1)[0][0]}
            for (f, lb), n in worst]


def pick_examples(mined: list[dict], train: list[dict], per_class: int, rng) -> list[dict]:
    """Training examples of each mined class (never validation or test)."""
    out, used = [], set()
    for m in mined:
        pool = sorted((r for r in train if r["labels"][m["field"]] == m["label"] and r["id"] not in used),
                      key=lambda r: r["id"])
        for r in rng.sample(pool, min(per_class, len(pool))):
            used.add(r["id"])
            out.append({"id": r["id"], "text": r["text"], "answer": answer_text(r["labels"]), "for": m})
    if not out and mined:
        raise PipelineError("few-shot mining found error classes but no training examples for them")
    return out
