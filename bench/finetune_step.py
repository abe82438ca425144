"""Benchmark: where one fine-tuning step goes — data collation, forward, backward, optimizer — and what a run adds
around its steps (a validation pass, a checkpoint), on a task's pipeline rows with the pipeline's recipe.

The trainer is the `finetune` stage's own (`build_trainer`); the steps are driven by hand so that each part is
timed alone: the next batch from the trainer's dataloader (collation, padding), its loss (`compute_loss`, the
forward pass), `backward()`, and the optimizer and scheduler step. The table gives each part's mean seconds per
step and share, padding's share of the batch tokens, and per-run totals for the default run: its steps, its
validation passes (`eval_strategy`) and its checkpoints.

python -m bench finetune_step --task multifield --steps 8
"""
import argparse
import math
import tempfile
import time

import torch
from tabulate import tabulate

from stages.lib import paths
from stages.lib.config import load_params
from stages.lib.files import read_jsonl
from stages.lib.finetuning.generative import build_trainer
from stages.lib.finetuning.rows import training_rows


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--task", default="multifield")
    ap.add_argument("--steps", type=int, default=8, help="timed steps, after one untimed warm-up step")


def run(args: argparse.Namespace) -> None:
    params = load_params()
    cfg = params.finetune
    train, val = training_rows(cfg, read_jsonl(paths.task_split(args.task, "train")),
                               read_jsonl(paths.task_split(args.task, "val")), params.seed)
    torch.manual_seed(cfg.seeds[0])
    with tempfile.TemporaryDirectory() as tmp:
        _, trainer = build_trainer(cfg, train, val, str(paths.BASE_MODEL), tmp, cfg.seeds[0])
        steps_per_epoch = math.ceil(len(train) / (cfg.batch_size * cfg.gradient_accumulation_steps))
        run_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
        trainer.create_optimizer_and_scheduler(num_training_steps=run_steps)
        model, optimizer, scheduler = trainer.model, trainer.optimizer, trainer.lr_scheduler
        model.train()
        batches = iter(trainer.get_train_dataloader())
        parts = {"collation": [], "forward": [], "backward": [], "optimizer": []}
        pad, tokens = 0, 0
        for step in range(args.steps + 1):
            t0 = time.perf_counter()
            batch = trainer._prepare_inputs(next(batches))
            t1 = time.perf_counter()
            with trainer.accelerator.autocast():  # Trainer's bf16 (`cpu_autocast`) as `trainer.train()` applies it
                loss = trainer.compute_loss(model, batch)
            t2 = time.perf_counter()
            loss.backward()
            t3 = time.perf_counter()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            t4 = time.perf_counter()
            if step:  # the first step warms up allocators and kernels
                for k, t in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    parts[k].append(t)
                mask = batch["attention_mask"]
                pad, tokens = pad + int((mask == 0).sum()), tokens + mask.numel()
        model.eval()
        _, t_eval = timed(trainer.evaluate)
        _, t_save = timed(lambda: trainer._save_checkpoint(model, trial=None))
    step_s = sum(sum(v) for v in parts.values()) / args.steps
    rows = [[k, sum(v) / len(v), sum(v) / len(v) / step_s] for k, v in parts.items()]
    rows.append(["one step", step_s, 1.0])
    print(f"task={args.task} rows={len(train)} batch={cfg.batch_size} threads={torch.get_num_threads()} "
          f"mixed precision={trainer.accelerator.mixed_precision} LoRA dropout={cfg.dropout} "
          f"timed steps={args.steps}; padding {pad / tokens:.1%} of the batch tokens")
    print(tabulate(rows, headers=["part", "s / step", "share of a step"], floatfmt=(None, ".3f", ".1%"),
                   tablefmt="github"))
    evals = {"epoch": math.ceil(cfg.epochs), "steps": run_steps // (cfg.eval_steps or run_steps), "no": 0}
    n_eval = evals[cfg.eval_strategy]
    n_save = n_eval if cfg.eval_strategy != "no" else math.ceil(cfg.epochs)
    whole = [["steps", run_steps, step_s * run_steps],
             [f"validation passes ({len(val)} rows)", n_eval, t_eval * n_eval],
             ["checkpoints", n_save, t_save * n_save]]
    total = sum(r[2] for r in whole)
    print(f"\nthe default run (finetune.eval_strategy={cfg.eval_strategy}, epochs={cfg.epochs}), estimated from "
          "these timings:")
    print(tabulate([r + [r[2] / total] for r in whole], headers=["", "count", "s", "share"],
                   floatfmt=(None, "d", ".1f", ".1%"), tablefmt="github"))

