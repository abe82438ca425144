"""Stage: fine-tune the base model on one task; the adapter goes to models/adapters/<task>.

python -m stages.finetune --task balanced
Interrupted? The next run resumes from models/checkpoints/<task> (kept outside DVC's outputs for that reason).
"""
import random
from pathlib import Path

from stages import finetuning
from stages.io import atomic_path, load_params, read_jsonl, run, stage_args, write_json


def main() -> None:
    args = stage_args("task")
    params = load_params()
    cfg = params["finetune"]
    rng = random.Random(params["seed"])
    train = read_jsonl(f"data/tasks/{args.task}/train.jsonl")
    val = read_jsonl(f"data/tasks/{args.task}/val.jsonl")
    # The CPU profile trains on a seeded subsample; full-size runs set these to null.
    if cfg.get("max_train_samples") and len(train) > cfg["max_train_samples"]:
        train = rng.sample(train, cfg["max_train_samples"])
    if cfg.get("max_val_samples") and len(val) > cfg["max_val_samples"]:
        val = rng.sample(val, cfg["max_val_samples"])
    with atomic_path(f"models/adapters/{args.task}") as out:
        metrics = finetuning.train(cfg, train, val, "models/base", out, Path(f"models/checkpoints/{args.task}"),
                                   params["seed"], live_dir=f"metrics/train/{args.task}")
    write_json(f"metrics/train/{args.task}.json", metrics)
    print(f"{args.task}: {metrics['train_samples']} samples x {metrics['epochs']:.2f} epochs in "
          f"{metrics['train_seconds']:.0f}s ({metrics['train_samples_per_s']} samples/s), best eval loss "
          f"{metrics['best_eval_loss']}")


if __name__ == "__main__":
    run(main)
