"""Benchmark: the local model's CPU precision, fp32 against bf16, side by side in one run: the same prompts, the same
samples, the same constrained decoder (shared prefix, batched). Per prompt and dtype: samples/s, accuracy, and the
share of labels equal to fp32's; and the rate of one matmul of the model's shape in each. A GPU always answers in
bf16; `models.<name>.cpu_dtype` chooses on a CPU.

python -m bench precision --task imbalanced --n 64
python -m bench precision --task multifield --n 32 --prompt zero_shot
"""
import argparse
import time

import torch
from tabulate import tabulate

from bench.cpu import describe
from bench.inference import accuracy, sample_args
from stages.lib import paths
from stages.lib.backends import local as local_lm
from stages.lib.files import read_json, read_jsonl

DTYPES = ("float32", "bfloat16")


def matmul_rate(dtype: str, rows: int = 4096, d_in: int = 576, d_out: int = 1536, reps: int = 20) -> float:
    """GFLOP/s of one `linear` of SmolLM2's MLP shape in `dtype`: what the CPU gives each precision."""
    x, w = torch.randn(rows, d_in, dtype=getattr(torch, dtype)), torch.randn(d_out, d_in, dtype=getattr(torch, dtype))
    for _ in range(3):
        torch.nn.functional.linear(x, w)
    start = time.perf_counter()
    for _ in range(reps):
        torch.nn.functional.linear(x, w)
    return 2 * rows * d_in * d_out * reps / (time.perf_counter() - start) / 1e9


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sample_args(ap)
    ap.add_argument("--prompt", nargs="+", default=["zero_shot", "few_shot"])


def run(args: argparse.Namespace) -> None:
    records = read_jsonl(paths.task_split(args.task, "test"))[: args.n]
    texts = [r["text"] for r in records]
    rows, preds = [], {}
    for dtype in DTYPES:
        lm = local_lm.LocalLM(*local_lm.load(args.model, cpu_dtype=dtype), batch_size=args.batch_size, progress=False)
        for name in args.prompt:
            prompt = read_json(paths.prompt(args.task, name))
            start = time.perf_counter()
            got = lm.classify(prompt["system"], texts, prompt["fields"], prompt["labels"])
            seconds = time.perf_counter() - start
            preds[dtype, name] = [g["pred"] for g in got]
            same = sum(a == b for a, b in zip(preds[dtype, name], preds["float32", name], strict=True)) / len(texts)
            rows.append([name, dtype, len(texts) / seconds, accuracy(preds[dtype, name], records, prompt["fields"]),
                         same])
    print(f"task={args.task} n={len(texts)} model={args.model} threads={torch.get_num_threads()}; linear 4096x576 -> "
          f"1536: " + ", ".join(f"{d} {matmul_rate(d):.0f} GFLOP/s" for d in DTYPES))
    print(describe())
    print(tabulate(rows, headers=["prompt", "dtype", "samples/s", "accuracy", "labels equal to fp32's"],
                   floatfmt=".3f", tablefmt="github"))
    for name in args.prompt:
        fp32, bf16 = (r[2] for r in rows if r[0] == name)
        print(f"{name}: bf16 {bf16 / fp32:.2f}x fp32's samples/s")

