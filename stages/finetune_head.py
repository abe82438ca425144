"""Stage: fine-tune the base model with a classification head on one task (LoRA on the trunk, the head in full);
the adapter goes to models/head_adapters/<task>. Same rows as `finetune` (same subsample sizes and seed).

python -m stages.finetune_head --task multitask
Interrupted? The next run resumes from the checkpoints kept in the per-user cache (`finetune_head.checkpoint_dir`).
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import atomic_path, read_jsonl, write_json
from stages.lib.finetuning.head import train
from stages.lib.finetuning.rows import training_rows
from stages.lib.finetuning.training import summary
from stages.lib.predictions import task_labels


def main() -> None:
    args = stage_args("task")
    params = load_params()
    cfg = params.finetune_head
    train_rows, val_rows = training_rows(cfg, read_jsonl(paths.task_split(args.task, "train")),
                                         read_jsonl(paths.task_split(args.task, "val")), params.seed)
    checkpoints = cfg.checkpoint_dir or paths.user_cache("checkpoints")
    with atomic_path(paths.head_adapter(args.task)) as out:
        metrics = train(cfg, train_rows, val_rows, task_labels(args.task), str(paths.BASE_MODEL), out, checkpoints,
                        cfg.seeds[0], live_dir=str(paths.head_train_live(args.task)))
    write_json(paths.head_train_metrics(args.task), metrics)
    print(f"{args.task}: {summary(metrics)}")


if __name__ == "__main__":
    run(main)
