"""Benchmark: this project's fine-tuning recipe vs TRL's defaults, and the classification-head recipe, same base
model, same samples, one run.

TRL defaults as measured in the issue: LoRA r=16 on all linear layers, batch 8, loss on the whole sequence,
SmolLM2's default system prompt in every sample (messages format), TRL's default learning rate and gradient
checkpointing; fp32, as this recipe's generative CPU profile (TRL's default bf16 autocast is many times slower
on a CPU without native bf16; the head row uses `finetune_head.cpu_autocast`).
The generative models are then scored on the same test samples with the same constrained decoder; the head
model by its own forward pass (no decoding).

python -m bench training --task imbalanced --train 128 --epochs 1

`--qlora` compares instead, on the same rows, LoRA on the fp32 base with QLoRA on the study's 4-bit NF4 base
(this recipe in fp32 and bf16 compute, and the study's exact recipe), each row in its own process so that its
peak resident memory is its own; every 4-bit adapter is scored on the 4-bit base it was trained on:
python -m bench training --qlora --task imbalanced --train 128 --epochs 1
"""
import argparse
import dataclasses
import json
import random
import resource
import subprocess
import sys
import tempfile
import time

import torch
from datasets import Dataset
from peft import LoraConfig
from tabulate import tabulate
from trl import SFTConfig, SFTTrainer

from stages.lib import paths
from stages.lib.backends import local as local_lm
from stages.lib.config import load_params
from stages.lib.files import read_json, read_jsonl
from stages.lib.finetuning.generative import build_trainer
from stages.lib.finetuning.model import autocast, compute_dtype, device
from stages.lib.scoring import exact_match
from stages.lib.templates import answer_text


def trl_defaults(train, base, out, epochs, seed):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    data = Dataset.from_list(
        [
            {
                "messages": [
                    {"role": "user", "content": r["text"]},
                    {"role": "assistant", "content": answer_text(r["labels"])},
                ]
            }
            for r in train
        ]
    )
    args = SFTConfig(output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=8, use_cpu=True,
                     report_to="none", save_strategy="no", seed=seed, completion_only_loss=False, logging_steps=50,
                     bf16=False)  # TRL turns bf16 autocast on by default; fp32 as the generative recipe
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=AutoTokenizer.from_pretrained(base),
        peft_config=LoraConfig(r=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    start = time.perf_counter()
    trainer.train()
    return trainer.model.merge_and_unload(), time.perf_counter() - start


def ours(train, val, base, out, epochs, seed, cfg):
    cfg = dataclasses.replace(cfg, epochs=epochs, eval_strategy="no")
    _, trainer = build_trainer(cfg, train, val, base, out, seed)
    start = time.perf_counter()
    trainer.train()
    return trainer.model.merge_and_unload(), time.perf_counter() - start


def head(train, val, labels, base, out, epochs, seed, cfg):
    """The classification-head recipe (`finetune_head`) on the same rows; scored by its own classifier."""
    from stages.lib.finetuning.head import build_trainer as build_head_trainer
    from stages.lib.methods.head_classifier import HeadClassifier

    cfg = dataclasses.replace(cfg, epochs=epochs, eval_strategy="no")
    trainer = build_head_trainer(cfg, train, val, labels, base, out, seed)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    model = trainer.model.merge_and_unload().eval()
    return HeadClassifier(model, trainer.processing_class, trainer.head, cfg.max_length, 16, seconds, len(train),
                          progress=False, autocast=autocast(cfg, device(cfg))), seconds


def score(model, tok, system, test, fields, labels) -> tuple[float, float]:
    """(test accuracy, predict samples/s): a head classifier predicts itself, a decoder through LocalLM."""
    start = time.perf_counter()
    if hasattr(model, "probabilities"):
        got = model.predict(test)
    else:
        lm = local_lm.LocalLM(model.eval(), tok, batch_size=16, progress=False)
        got = lm.classify(system, [r["text"] for r in test], fields, labels)
    return accuracy(got, test, fields), len(test) / (time.perf_counter() - start)


def accuracy(got: list[dict], test: list[dict], fields) -> float:
    """Exact match over every label field, scored as the pipeline scores it (`scoring.exact_match`)."""
    return float(exact_match([{"pred": g["pred"], "true": r["labels"]} for g, r in zip(got, test, strict=True)],
                             fields).mean())


# The study's exact recipe (its published code): r=6, alpha=8, dropout 0.05, q/v projections, every layer,
# lr 2e-4 constant, batch 16, seed 42, on a 4-bit NF4 base with double quantisation.
STUDY = {"r": 6, "alpha": 8, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "top_layers": None,
         "learning_rate": 2e-4, "scheduler": "constant", "warmup_steps": 0, "batch_size": 16,
         "gradient_accumulation_steps": 1}
QLORA_ROWS = {
    "LoRA, fp32 base (this recipe)": {"quantize_4bit": False},
    "QLoRA 4-bit, fp32 compute (this recipe)": {"quantize_4bit": True,
                                                "compute_dtype": {"cpu": "float32", "cuda": "bfloat16"}},
    "QLoRA 4-bit, bf16 compute (this recipe)": {"quantize_4bit": True,
                                                "compute_dtype": {"cpu": "bfloat16", "cuda": "bfloat16"}},
    "QLoRA 4-bit, the study's exact recipe": {"quantize_4bit": True, **STUDY,
                                              "compute_dtype": {"cpu": "bfloat16", "cuda": "bfloat16"}},
}


def qlora_row(name, args) -> dict:
    """One row, in this process: train on the shared rows, score the full test split as the pipeline does."""
    from stages.lib.quantization import quantization_config

    params = load_params()
    cfg = dataclasses.replace(params.finetune, **QLORA_ROWS[name], epochs=args.epochs, eval_strategy="no")
    seed = params.seed
    train = random.Random(seed).sample(read_jsonl(paths.task_split(args.task, "train")), args.train)
    test = read_jsonl(paths.task_split(args.task, "test"))
    labels = read_json(paths.task_labels(args.task))
    with tempfile.TemporaryDirectory() as tmp:
        _, trainer = build_trainer(cfg, train, train[:8], args.base, tmp + "/run", seed)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        trainer.model.save_pretrained(tmp + "/adapter")
        del trainer
        dev = device(cfg)
        quant = quantization_config(compute_dtype(cfg, dev)) if cfg.quantize_4bit else None
        model, tok = local_lm.load(args.base, adapter=tmp + "/adapter", quantization_config=quant)
        lm = local_lm.LocalLM(model, tok, batch_size=16, progress=False)
        start = time.perf_counter()
        got = lm.classify(
            cfg.system, [lm.truncate(r["text"], None, cfg.system)[0] for r in test], list(labels), labels
        )
        predict = time.perf_counter() - start
    test_accuracy = accuracy(got, test, labels)
    return {"recipe": name, "train samples/s": len(train) * args.epochs / seconds, "train s": seconds,
            "peak RSS MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "predict samples/s": len(test) / predict, "test accuracy": test_accuracy, "base": local_lm.precision_info(
                model, "adapter")["base_precision"]}


def qlora_table(args) -> None:
    rows = []
    for name in QLORA_ROWS:
        cmd = [sys.executable, "-m", "bench", "--out", "-", "training", "--row", name, "--task", args.task,
               "--train", str(args.train),
               "--epochs", str(args.epochs), "--base", args.base]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{name}: failed\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    n_test = len(read_jsonl(paths.task_split(args.task, "test")))
    print(f"task={args.task} train={args.train} epochs={args.epochs} test={n_test} threads={torch.get_num_threads()}")
    print(tabulate([list(r.values()) for r in rows], headers=list(rows[0]), floatfmt=".3f", tablefmt="github"))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--task", default="imbalanced")
    ap.add_argument("--train", type=int, default=128)
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--base", default=str(paths.BASE_MODEL))
    ap.add_argument("--skip-defaults", action="store_true", help="only this recipe's two losses")
    ap.add_argument("--qlora", action="store_true", help="LoRA fp32 against QLoRA 4-bit (ours and the study's)")
    ap.add_argument("--row", help=argparse.SUPPRESS)  # one --qlora row, run in its own process


def run(args: argparse.Namespace) -> None:
    if args.row:
        torch.manual_seed(load_params().seed)
        print(json.dumps(qlora_row(args.row, args)))
        return
    if args.qlora:
        return qlora_table(args)
    from transformers import AutoTokenizer

    params = load_params()
    cfg, seed = params.finetune, params.seed
    train = random.Random(seed).sample(read_jsonl(paths.task_split(args.task, "train")), args.train)
    val = read_jsonl(paths.task_split(args.task, "val"))[:8]
    test = read_jsonl(paths.task_split(args.task, "test"))
    fields = list(test[0]["labels"])
    labels = {f: sorted({r["labels"][f] for r in read_jsonl(paths.task_split(args.task, "train"))}) for f in fields}
    tok = AutoTokenizer.from_pretrained(args.base)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, system in [
            ("TRL defaults (all-linear r=16, whole-sequence loss, default system prompt)",
             lambda: trl_defaults(train, args.base, tmp + "/a", args.epochs, seed), None),
            (f"this recipe (top {cfg.top_layers} layers r={cfg.r}, answer-only loss and logits, length-grouped)",
             lambda: ours(train, val, args.base, tmp + "/b", args.epochs, seed,
                          dataclasses.replace(cfg, loss="answer_logits")), cfg.system),
            ("this recipe with TRL's completion-only loss (its fused LM-head path)",
             lambda: ours(train, val, args.base, tmp + "/c", args.epochs, seed, dataclasses.replace(cfg, loss="trl")),
             cfg.system),
            (f"classification head (finetune_head: top {params.finetune_head.top_layers} layers "
             f"r={params.finetune_head.r}, one forward pass per text)",
             lambda: head(train, val, labels, args.base, tmp + "/d", args.epochs, seed, params.finetune_head), None),
        ]:
            if args.skip_defaults and name.startswith("TRL defaults"):
                continue
            torch.manual_seed(seed)
            model, seconds = fn()
            acc, predict_rate = score(model, tok, system, test, fields, labels)
            rows.append([name, len(train) * args.epochs / seconds, seconds, predict_rate, acc])
    print(
        f"task={args.task} train={len(train)} epochs={args.epochs} test={len(test)} threads={torch.get_num_threads()}"
    )
    print(
        tabulate(
            rows, headers=["recipe", "train samples/s", "train s", "predict samples/s", "test accuracy"],
            floatfmt=".3f", tablefmt="github"
        )
    )
    print("\n" + "\n".join(f"{r[0]}: {r[1] / rows[0][1]:.2f}x the first row's samples/s" for r in rows[1:]))

