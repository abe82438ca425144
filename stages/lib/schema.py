"""How a typed params view documents its fields: `doc(help)` is a dataclass field carrying its help text, as TRL's
configs carry theirs (`field(metadata={"help": ...})`). A `Literal[...]` type lists a field's allowed values; the
parser in `stages.lib.config` refuses any other, naming the key. docs/params.md is generated from these."""
from __future__ import annotations

from dataclasses import field


def doc(help: str, **kwargs):
    return field(metadata={"help": help}, **kwargs)
