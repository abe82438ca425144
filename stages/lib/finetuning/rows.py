"""The rows a fine-tuning run learns from, in the study's conversational format: the sample as the user turn, the
label (or the JSON object of labels) as the assistant turn, in TRL's prompt/completion form, so the loss covers
the answer tokens only. A short fixed system turn replaces the chat template's default one (SmolLM2 would add
~30 tokens per sample)."""
from __future__ import annotations

import random
from pathlib import Path

from stages.lib.config import Finetune
from stages.lib.templates import answer_text
from stages.lib.truncation import truncate_tokens


def training_rows(cfg: Finetune, train: list[dict], val: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """The rows a fine-tuning run learns from and validates on: seeded subsamples of at most
    `max_train_samples` and `max_val_samples` (null: all). The stage and the learning curve both draw them here."""
    rng = random.Random(seed)
    if cfg.max_train_samples and len(train) > cfg.max_train_samples:
        train = rng.sample(train, cfg.max_train_samples)
    if cfg.max_val_samples and len(val) > cfg.max_val_samples:
        val = rng.sample(val, cfg.max_val_samples)
    return train, val


def train_adapter(params, method: str, task: str, train: list[dict], val: list[dict], labels: dict, adapter: Path,
                  seed: int | None = None) -> dict:
    """Fine-tune `method`'s recipe into `adapter` on the rows of a learning-curve or seed point, drawn as its
    training stage draws them, under training `seed` (default: the recipe's first, as its training stage); the
    metrics. Reached through the method registry (`train_adapter`), which names the recipe's trainer."""
    from stages.lib import paths
    from stages.lib.methods.registry import trainer

    cfg, train_fn = trainer(params, method)
    if cfg is params.finetune:  # the generative recipe's system turn, worded for the task's subject
        cfg = params.finetune_for(task)
    train, val = training_rows(cfg, train, val, params.seed)
    checkpoints = cfg.checkpoint_dir or paths.user_cache("checkpoints")
    return train_fn(cfg, train, val, labels, str(paths.BASE_MODEL), adapter, checkpoints,
                    cfg.seeds[0] if seed is None else seed)


def conversation(record: dict, system: str, tokenizer, max_input_tokens: int) -> tuple[dict, bool]:
    """The study's format; the text is cut to `max_input_tokens` exactly as inference cuts it, so the answer is
    never the part that `max_length` drops."""
    text, cut = truncate_tokens(tokenizer, record["text"], max_input_tokens)
    return {
        "prompt": [{"role": "system", "content": system}, {"role": "user", "content": text}],
        "completion": [{"role": "assistant", "content": answer_text(record["labels"])}],
    }, cut


def input_budget(cfg: Finetune, tokenizer, rows: list[dict]) -> int:
    """`finetune.max_input_tokens`, or by default what `max_length` leaves after the chat template, the system
    turn and the longest answer in the data."""
    if cfg.max_input_tokens is not None:
        return cfg.max_input_tokens
    prompt = conversation({"text": "", "labels": {}}, cfg.system, tokenizer, 1)[0]["prompt"]
    template = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    overhead = len(tokenizer.encode(template, add_special_tokens=False))
    answer = max(len(tokenizer.encode(answer_text(r["labels"]), add_special_tokens=False)) for r in rows)
    return max(cfg.max_length - overhead - answer - 2, 1)  # 2: the end-of-turn tokens after the answer
