"""The study's few-shot recipe, on validation only: find the classes zero-shot gets most wrong, then take
training examples of them (never validation or test rows)."""
from __future__ import annotations

from collections import Counter

from stages.lib.errors import PipelineError
from stages.lib.templates import answer_text


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
