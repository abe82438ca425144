"""The label layout of a classification head, shared by its training and its scoring: one block of outputs per
label field, side by side, each field with its own softmax. Written beside the adapter as `head.json`."""
from __future__ import annotations

FILE = "head.json"


def layout(labels: dict[str, list[str]]) -> dict:
    """{"fields": [...], "labels": {...}, "offsets": {field: first output}, "num_labels": outputs in all}."""
    offsets, start = {}, 0
    for f, names in labels.items():
        offsets[f], start = start, start + len(names)
    return {"fields": list(labels), "labels": labels, "offsets": offsets, "num_labels": start}


def field_slices(head: dict) -> dict[str, slice]:
    """Each field's outputs, as a slice of the head's last dimension."""
    return {f: slice(head["offsets"][f], head["offsets"][f] + len(head["labels"][f])) for f in head["fields"]}
