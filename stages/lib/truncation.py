"""Bounding a model's input: a text longer than `limit` tokens keeps its first `limit` tokens, the same way in
training and in inference, and says that it was cut."""
from __future__ import annotations

CHARS_PER_TOKEN = 4  # for APIs whose tokenizer is not at hand: a conservative estimate for English text
# Tokens kept free for few-shot framing and the answer when an input is bounded by the context (max_input_tokens:
# null). Not a knob: it matters only for texts near the context length, and `max_input_tokens` is the knob there.
ANSWER_ROOM = 256


def truncate_tokens(tokenizer, text: str, limit: int) -> tuple[str, bool]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= limit:
        return text, False
    return tokenizer.decode(ids[:limit], skip_special_tokens=True), True


def truncate_chars(text: str, limit_tokens: int) -> tuple[str, bool]:
    limit = limit_tokens * CHARS_PER_TOKEN
    return (text, False) if len(text) <= limit else (text[:limit], True)
