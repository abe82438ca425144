"""Benchmark: the frozen layers computed once (`recipe.cache_lower_layers_mb`) against every epoch running the
whole model, back to back on a task's pipeline rows with the pipeline's recipe.

Each run is the recipe's own `train` (the one the `finetune`/`finetune_head` stage, the learning curve and the seed
spread call), from scratch (checkpoints of its own), under the same seed: first with the cache off, then on. The
table gives each run's training seconds and rows per second, the ratio, the counted work, the training loss, and
how far apart the two adapters are (the largest absolute difference of any weight: floating-point rounding, or the
cache is wrong). The cache itself (its MB and the frozen share) is printed by the run.

python -m bench lower_layers --task imbalanced
python -m bench lower_layers --task imbalanced --recipe finetune_head --epochs 2
"""
import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from stages.lib import paths
from stages.lib.config import load_params
from stages.lib.files import read_jsonl
from stages.lib.finetuning import generative, head
from stages.lib.finetuning.rows import training_rows
from stages.lib.predictions import task_labels


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--task", default="imbalanced")
    ap.add_argument("--recipe", choices=["finetune", "finetune_head"], default="finetune")
    ap.add_argument("--epochs", type=float, default=None, help="override the recipe's epochs (the cache needs >1)")


def run(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import load_file

    params = load_params()
    cfg = getattr(params, args.recipe)
    cfg = replace(cfg, epochs=args.epochs) if args.epochs else cfg
    budget = cfg.cache_lower_layers_mb or 4096
    train, val = training_rows(cfg, read_jsonl(paths.task_split(args.task, "train")),
                               read_jsonl(paths.task_split(args.task, "val")), params.seed)
    recipe = generative.train if args.recipe == "finetune" else head.train
    rows, weights = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, mb in (("every epoch runs the whole model", None), ("frozen layers computed once", budget)):
            out = Path(tmp) / f"adapter-{bool(mb)}"
            m = recipe(replace(cfg, cache_lower_layers_mb=mb), train, val, task_labels(args.task),
                       str(paths.BASE_MODEL), out, Path(tmp) / f"ckpt-{bool(mb)}", cfg.seeds[0])
            weights[name] = load_file(next(out.glob("*.safetensors")))
            rows.append([name, m["train_seconds"], m["train_samples_per_s"], m["train_flops"] / 1e12,
                         m["train_loss"], m.get("lower_layers_cache_mb") or m.get("lower_layers_reason")])
    a, b = weights.values()
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    print(f"task={args.task} recipe={args.recipe} rows={len(train)} epochs={cfg.epochs} top_layers={cfg.top_layers} "
          f"eval_strategy={cfg.eval_strategy} threads={torch.get_num_threads()}")
    print(tabulate(rows, headers=["run", "train s", "rows/s", "counted TFLOP", "train loss", "cache MB (or why not)"],
                   floatfmt=(None, ".1f", ".2f", ".2f", ".4f"), tablefmt="github"))
    print(f"\ncomputed once / every epoch: {rows[1][1] / rows[0][1]:.2f}x the training seconds, "
          f"{rows[1][3] / rows[0][3]:.2f}x the counted work; the adapters' largest weight difference: {diff:.2e}")
