"""Benchmark: this project's fine-tuning recipe vs TRL's defaults, same base model, same samples, one run.

TRL defaults as measured in the issue: LoRA r=16 on all linear layers, batch 8, loss on the whole sequence,
SmolLM2's default system prompt in every sample (messages format), TRL's default learning rate and gradient
checkpointing; fp32 (TRL's default bf16 autocast is many times slower on this CPU).
Both models are then scored on the same test samples with the same constrained decoder.

python -m bench.training --task imbalanced --train 128 --epochs 1
"""
import argparse
import dataclasses
import random
import tempfile
import time

import torch
from datasets import Dataset
from peft import LoraConfig
from tabulate import tabulate
from trl import SFTConfig, SFTTrainer

from stages.lib import paths
from stages.lib import sft as finetuning
from stages.lib.backends import local as local_lm
from stages.lib.config import load_params
from stages.lib.files import read_jsonl
from stages.lib.templates import answer_text


def trl_defaults(train, base, out, epochs, seed):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base)
    data = Dataset.from_list([{"messages": [{"role": "user", "content": r["text"]},
                                            {"role": "assistant", "content": answer_text(r["labels"])}]} for r in train])
    args = SFTConfig(output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=8, use_cpu=True,
                     report_to="none", save_strategy="no", seed=seed, completion_only_loss=False, logging_steps=50,
                     bf16=False)  # TRL turns bf16 autocast on by default; on this CPU that is far slower than fp32
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=AutoTokenizer.from_pretrained(base),
                         peft_config=LoraConfig(r=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    start = time.perf_counter()
    trainer.train()
    return trainer.model.merge_and_unload(), time.perf_counter() - start


def ours(train, val, base, out, epochs, seed, cfg):
    cfg = dataclasses.replace(cfg, epochs=epochs, eval_strategy="no")
    _, _, trainer = finetuning.build_trainer(cfg, train, val, base, out, seed)
    start = time.perf_counter()
    trainer.train()
    return trainer.model.merge_and_unload(), time.perf_counter() - start


def score(model, tok, system, test, fields, labels):
    lm = local_lm.LocalLM(model.eval(), tok, batch_size=16, progress=False)
    got = lm.classify(system, [r["text"] for r in test], fields, labels)
    return sum(all(g["pred"][f] == r["labels"][f] for f in fields) for g, r in zip(got, test)) / len(test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="imbalanced")
    ap.add_argument("--train", type=int, default=128)
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--base", default=str(paths.BASE_MODEL))
    ap.add_argument("--skip-defaults", action="store_true", help="only this recipe's two losses")
    args = ap.parse_args()
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
        ]:
            if args.skip_defaults and name.startswith("TRL defaults"):
                continue
            torch.manual_seed(seed)
            model, seconds = fn()
            rows.append([name, len(train) * args.epochs / seconds, seconds, score(model, tok, system, test, fields, labels)])
    print(f"task={args.task} train={len(train)} epochs={args.epochs} test={len(test)} threads={torch.get_num_threads()}")
    print(tabulate(rows, headers=["recipe", "train samples/s", "train s", "test accuracy"], floatfmt=".3f", tablefmt="github"))
    print("\n" + "\n".join(f"{r[0]}: {r[1] / rows[0][1]:.2f}x the first row's samples/s" for r in rows[1:]))


if __name__ == "__main__":
    main()
