"""Running a Trainer the way every fine-tuning recipe here does: its arguments from `finetune.*`, checkpoints
under a fingerprint, resume, the clock, and the metrics every recipe reports."""
from __future__ import annotations

import resource
import warnings
from pathlib import Path

import torch

from stages.lib.adapters import DEPRECATED_READ
from stages.lib.config import Finetune
from stages.lib.finetuning import lower_layers, search
from stages.lib.finetuning.callbacks import LogLastStep, TrainingClock, live_callback
from stages.lib.finetuning.fingerprint import fingerprint
from stages.lib.finetuning.model import autocast

warnings.filterwarnings("ignore", message=DEPRECATED_READ, category=FutureWarning)  # TRL's and peft's, in training


def checkpoint_dir(cfg, train: list[dict], val: list[dict], base: str, checkpoints_root: Path, seed: int,
                   extra=None) -> Path:
    """`checkpoints_root/<fingerprint>`: the checkpoints an interrupted run of the same recipe, data and base model
    left, so checkouts and queued experiments share them safely."""
    path = Path(checkpoints_root) / fingerprint(cfg, train, val, base, seed, extra)
    path.mkdir(parents=True, exist_ok=True)
    return path


def arguments(cfg: Finetune, dev: str, output_dir: str, seed: int, args_class, **extra):
    """`args_class` (TrainingArguments or a subclass such as SFTConfig) from the recipe's shared knobs."""
    return args_class(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size * 2,  # no gradients at evaluation: twice the rows fit
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup_steps,
        train_sampling_strategy="group_by_length",  # batches of similar length: little padding
        eval_strategy=cfg.eval_strategy,
        eval_steps=cfg.eval_steps,
        # a checkpoint at each evaluation, or without evaluations at each epoch: an interrupted run still resumes
        save_strategy=cfg.eval_strategy if cfg.eval_strategy != "no" else "epoch",
        save_steps=cfg.eval_steps,
        save_total_limit=2,  # the best checkpoint and the last (to resume): nothing older is ever read
        load_best_model_at_end=cfg.eval_strategy != "no",
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=cfg.logging_steps,
        seed=seed,
        data_seed=seed,
        bf16=autocast(cfg, dev) == "bfloat16",
        use_cpu=dev == "cpu",
        report_to="none",
        dataloader_num_workers=0,
        max_steps=cfg.max_steps or -1,
        activation_checkpointing=dev == "cuda" and cfg.gradient_checkpointing,
        **extra,
    )


def callbacks(cfg: Finetune, live_dir: str | None) -> list:
    from transformers import EarlyStoppingCallback

    out = [EarlyStoppingCallback(early_stopping_patience=cfg.patience)] if cfg.eval_strategy != "no" else []
    return out + ([live_callback(live_dir)] if live_dir else [])


def fit(trainer, cfg: Finetune, resume: bool, adapter_out: Path) -> dict:
    """Train (resuming where `resume`; the frozen layers computed once where `lower_layers` can), save the best
    adapter from the main process only, and return the metrics every recipe reports."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    clock = TrainingClock()
    trainer.add_callback(clock)
    trainer.add_callback(LogLastStep())
    # a candidate of a search that does not validate while training is scored on validation once, at the end
    validate_at_end = cfg.eval_strategy == "no" and search.searching(cfg)
    with lower_layers.cached(trainer, cfg.top_layers, cfg.cache_lower_layers_mb, cfg.epochs,
                             with_validation=cfg.eval_strategy != "no" or validate_at_end) as cache:
        clock.setup = cache.get("lower_layers_fill_seconds", 0.0)  # the cache is training time too
        try:
            result = trainer.train(resume_from_checkpoint=resume or None)
        except KeyboardInterrupt:  # keep the steps trained so far: the rerun resumes from this checkpoint
            if trainer.state.global_step > 0:
                trainer._save_checkpoint(trainer.model, trial=None)
            raise
        if validate_at_end:
            trainer.evaluate()
    seconds = clock.total()
    if trainer.is_world_process_zero():  # one adapter, however many processes trained it
        trainer.model.save_pretrained(adapter_out)
        trainer.processing_class.save_pretrained(adapter_out)
    history = [h for h in trainer.state.log_history if "eval_loss" in h]
    return {
        "train_seconds": seconds,
        "resumed": resume,
        "epochs": trainer.state.epoch or 0,
        "steps": trainer.state.global_step,
        "world_size": trainer.args.world_size,
        # Trainer's own mean over the steps this run trained, whatever logging_steps is (none: a finished resume)
        "train_loss": result.training_loss if trainer.state.global_step > clock.first_step else None,
        "train_loss_steps": trainer.state.global_step - clock.first_step,
        "best_eval_loss": min((h["eval_loss"] for h in history), default=None),
        "eval_losses": [h["eval_loss"] for h in history],
        "peak_memory_mb": (torch.cuda.max_memory_allocated() if torch.cuda.is_available()
                           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        **cache,
    }


def counted_flops(trainer, cfg: Finetune, metrics: dict) -> float:
    """The run's counted work (stages.lib.counting): every training row's forward and backward for the epochs
    trained, and every validation pass (the frozen layers' forward once, where they were cached); the same whether
    the run resumed or not, whatever the machine's load."""
    from stages.lib import counting

    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    val = [len(ids) for ids in trainer.eval_dataset["input_ids"]] if trainer.eval_dataset is not None else []
    return counting.training_flops(counting.shape(trainer.model), lengths, metrics["epochs"], cfg.top_layers, val,
                                   len(metrics["eval_losses"]), frozen_once=metrics["lower_layers_cached"])


def summary(metrics: dict) -> str:
    """The line a training stage ends with."""
    loss = metrics["best_eval_loss"]
    return (f"{metrics['train_samples']} samples x {metrics['epochs']:.2f} epochs in {metrics['train_seconds']:.0f}s "
            f"({metrics['train_samples_per_s'] or 0:.2f} samples/s), "
            + (f"best eval loss {loss:.4f}" if loss is not None else "no validation pass"))
