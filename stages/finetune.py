"""Stage: fine-tune the base model on one task; the adapter goes to models/adapters/<task>.

python -m stages.finetune --task balanced
Interrupted? The next run resumes from the checkpoints kept in the per-user cache (`finetune.checkpoint_dir`).
"""
import contextlib
import os

from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import atomic_path, read_json, read_jsonl, write_json
from stages.lib.finetuning.generative import train as finetune
from stages.lib.finetuning.rows import training_rows
from stages.lib.finetuning.training import summary
from stages.lib.sharding import relaunch


def main() -> None:
    args = stage_args("task")
    params = load_params()
    cfg = params.finetune_for(args.task)  # its system turn worded for the task's subject
    relaunch(cfg.processes)  # finetune.processes > 1: data-parallel training under torchrun
    # The CPU profile trains on a seeded subsample; full-size runs set max_train/val_samples to null.
    train, val = training_rows(cfg, read_jsonl(paths.task_split(args.task, "train")),
                               read_jsonl(paths.task_split(args.task, "val")), params.seed)
    checkpoints = cfg.checkpoint_dir or paths.user_cache("checkpoints")
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun (finetune.processes > 1) one writes
    with atomic_path(paths.adapter(args.task)) if main_rank else contextlib.nullcontext() as out:
        metrics = finetune(cfg, train, val, read_json(paths.task_labels(args.task)), str(paths.BASE_MODEL), out,
                           checkpoints, cfg.seeds[0], live_dir=str(paths.train_live(args.task)) if main_rank else None)
    if not main_rank:
        return
    write_json(paths.train_metrics(args.task), metrics)
    print(f"{args.task}: {summary(metrics)}")


if __name__ == "__main__":
    run(main)
