"""The study's recipe: TRL's SFTTrainer with a PEFT LoRA adapter, the label decoded as the assistant's answer."""
from __future__ import annotations

from pathlib import Path

from stages.lib.config import Finetune
from stages.lib.finetuning.model import autocast, device, load_base, lora_config, precision
from stages.lib.finetuning.rows import conversation, input_budget
from stages.lib.finetuning.search import searched
from stages.lib.finetuning.training import arguments, callbacks, checkpoint_dir, counted_flops, fit


def build_trainer(cfg: Finetune, train: list[dict], val: list[dict], base: str, output_dir: str, seed: int,
                  live_dir: str | None = None):
    """(train_data, trainer): the trainer, and the conversations it trains on as (conversation, whether its text
    was truncated) pairs."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from stages.lib.finetuning.loss import AnswerLossSFTTrainer

    dev = device(cfg)
    model, tokenizer = load_base(base, dev, cfg)
    budget = input_budget(cfg, tokenizer, train + val)
    train_data = [conversation(r, cfg.system, tokenizer, budget) for r in train]
    val_data = [conversation(r, cfg.system, tokenizer, budget) for r in val]
    args = arguments(cfg, dev, output_dir, seed, SFTConfig, max_length=cfg.max_length, completion_only_loss=True)
    trainer_class = {"answer_logits": AnswerLossSFTTrainer, "trl": SFTTrainer}[cfg.loss]
    return train_data, trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([c for c, _ in train_data]),
        eval_dataset=Dataset.from_list([c for c, _ in val_data]),
        processing_class=tokenizer,
        peft_config=lora_config(cfg, model.config.num_hidden_layers),
        callbacks=callbacks(cfg, live_dir),
    )


def train_once(cfg: Finetune, train_rows: list[dict], val_rows: list[dict], labels: dict[str, list[str]], base: str,
               adapter_out: Path, checkpoints_root: Path, seed: int, live_dir: str | None = None) -> dict:
    """`labels` is the task's label set, as every recipe's `train` takes it (the method registry calls them alike);
    the answers the model learns are in the rows. Fine-tune, resuming from the checkpoints an interrupted run of
    the same recipe, data and base model left (`training.checkpoint_dir`). Saves the best adapter to
    `adapter_out`; returns the training metrics."""
    checkpoints = checkpoint_dir(cfg, train_rows, val_rows, base, checkpoints_root, seed)
    resume = any(checkpoints.glob("checkpoint-*"))
    print(f"checkpoints: {checkpoints}" + (" (resuming)" if resume else ""))
    train_data, trainer = build_trainer(cfg, train_rows, val_rows, base, str(checkpoints), seed, live_dir)
    n_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    metrics = fit(trainer, cfg, resume, adapter_out)
    seconds, epochs = metrics["train_seconds"], metrics["epochs"]
    return {
        **metrics,
        "train_samples": len(train_rows),
        "truncated_rows": sum(cut for _, cut in train_data),
        "max_input_tokens": input_budget(cfg, trainer.processing_class, train_rows + val_rows),  # inference cuts alike
        "train_tokens": n_tokens,
        "train_flops": counted_flops(trainer, cfg, metrics),
        "train_samples_per_s": len(train_rows) * epochs / seconds if seconds else None,
        "train_tokens_per_s": n_tokens * epochs / seconds if seconds else None,
        "device": device(cfg),
        "base_precision": precision(cfg),
        "autocast": autocast(cfg, device(cfg)),
        **({"compute_dtype": cfg.compute_dtype[device(cfg)]} if cfg.quantize_4bit else {}),
    }


train = searched(train_once)  # what the stages and the method registry call
