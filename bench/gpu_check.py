"""A prepared GPU check: speed and code paths on one CUDA GPU in a few minutes, with no network at all.

No model hub, no package registry and no SmolLM2 GGUF on the GPU machine: a SmolLM2-135M-sized Llama with random
weights is built from the tokenizer and config shipped in `bench/assets/smollm2` (≈0.6 MB). It checks speed and
code paths, not accuracy. One table:
- the constrained decoder in bf16 against fp32 on the same prompts: samples/s, and whether the labels agree;
- QLoRA training steps (4-bit NF4 base, double quantisation, bf16 compute; the pipeline's trainer): samples/s
  and peak GPU memory;
- vLLM against this decoder on the same prompts, if vLLM is importable: samples/s and agreement.

python -m bench gpu_check                                # on the GPU machine
python -m bench gpu_check --device cpu --layers 2 --n 8  # the same code paths on a CPU, small (the tests run it)
Without CUDA and with the default --device cuda, every row reports "skipped: no CUDA".
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
from tabulate import tabulate

ASSETS = Path(__file__).parent / "assets" / "smollm2"
SYSTEM = "Classify the OSHA injury report."


def build_model(out: Path, layers: int | None, seed: int = 0) -> None:
    """A random-weight model of SmolLM2's shape (or `layers` of it), saved as a plain checkpoint."""
    from transformers import AutoConfig, AutoModelForCausalLM

    for f in ASSETS.iterdir():
        if f.name.endswith(".gz"):
            (out / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(f.read_bytes()))
        else:
            shutil.copy(f, out / f.name)
    config = AutoConfig.from_pretrained(out)
    if layers:
        config.num_hidden_layers = layers
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)


def prompts(n: int) -> tuple[list[str], dict[str, list[str]]]:
    """`n` real narratives and the ten most frequent labels from the shipped sample."""
    import pandas as pd

    df = pd.read_csv("data/raw/osha_sample.csv", dtype=str, keep_default_na=False)
    labels = [s.strip() for s in df["NatureTitle"].str.strip().value_counts().index[:10]]
    texts = list(df["Final Narrative"].head(n))
    return texts, {"NatureTitle": sorted(labels)}


def decode(base: Path, device: str, dtype, texts, labels) -> tuple[list, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stages.lib.backends.local import LocalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype).to(device).eval()
    lm = LocalLM(model, AutoTokenizer.from_pretrained(base), batch_size=16, progress=False)
    lm.classify(SYSTEM, texts[:2], list(labels), labels)  # warm-up
    start = time.perf_counter()
    out = lm.classify(SYSTEM, texts, list(labels), labels)
    return [o["pred"] for o in out], len(texts) / (time.perf_counter() - start)


def qlora_steps(base: Path, device: str, texts, labels, steps: int) -> tuple[float, float | None]:
    from stages.lib.config import load_params
    from stages.lib.finetuning.generative import build_trainer

    cfg = dataclasses.replace(load_params().finetune, device=device, quantize_4bit=True, eval_strategy="no",
                              max_steps=steps, logging_steps=1)
    field = next(iter(labels))
    rows = [{"id": str(i), "text": t, "labels": {field: labels[field][i % len(labels[field])]}}
            for i, t in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        _, trainer = build_trainer(cfg, rows, rows[:4], str(base), tmp, seed=0)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return steps * cfg.batch_size / seconds, peak


def vllm_decode(base: Path, texts, labels):
    from stages.lib.backends.vllm import VLLMBackend

    backend = VLLMBackend.load(str(base), None, 1, {"model": "random"})
    start = time.perf_counter()
    out = backend.classify(SYSTEM, texts, list(labels), labels)
    return [o["pred"] for o in out], len(texts) / (time.perf_counter() - start)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--layers", type=int, default=None, help="fewer layers than SmolLM2's 30 (a quick CPU look)")
    ap.add_argument("--n", type=int, default=256, help="prompts to decode")
    ap.add_argument("--steps", type=int, default=20, help="QLoRA training steps")


def run(args: argparse.Namespace) -> None:
    rows = []
    if args.device == "cuda" and not torch.cuda.is_available():
        for check in ("decoder fp32", "decoder bf16", "QLoRA training steps", "vLLM"):
            rows.append([check, "skipped: no CUDA", "", ""])
        print(tabulate(rows, headers=["check", "samples/s", "agreement / peak GPU MB", "notes"], tablefmt="github"))
        return
    texts, labels = prompts(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        build_model(base, args.layers)
        ref, fp32_speed = decode(base, args.device, torch.float32, texts, labels)
        rows.append(["decoder fp32", fp32_speed, "reference", f"{len(texts)} prompts"])
        bf16, bf16_speed = decode(base, args.device, torch.bfloat16, texts, labels)
        agree = sum(a == b for a, b in zip(ref, bf16, strict=True)) / len(ref)
        rows.append(["decoder bf16", bf16_speed, f"{agree:.1%} same labels as fp32", "options compared in fp32"])
        speed, peak = qlora_steps(base, args.device, texts, labels, args.steps)
        rows.append(["QLoRA training steps", speed, f"{peak:.0f} MB peak" if peak else "—",
                     f"{args.steps} steps, 4-bit NF4 + double quant"])
        try:
            import vllm  # noqa: F401
        except ImportError:
            rows.append(["vLLM", "skipped: vLLM not importable", "", ""])
        else:
            if args.device == "cuda":
                got, speed = vllm_decode(base, texts, labels)
                agree = sum(a == b for a, b in zip(bf16, got, strict=True)) / len(got)
                rows.append(["vLLM", speed, f"{agree:.1%} same labels as decoder bf16", ""])
            else:
                rows.append(["vLLM", "skipped: no CUDA", "", ""])
    layers = args.layers or 30
    print(f"device={args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}) "
          f"model=SmolLM2-135M shape, {layers} layers, random weights; torch {torch.__version__}")
    print(tabulate(rows, headers=["check", "samples/s", "agreement / peak GPU MB", "notes"], floatfmt=".1f",
                   tablefmt="github"))

