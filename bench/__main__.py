"""One benchmark harness: `python -m bench <name> [options]` runs a benchmark and writes what it printed, with
the command and the machine, to docs/benchmarks/<name>.md. The docs hold what a command wrote, never a figure
typed by hand; `--out -` writes nothing (a bench's own child processes use it).

python -m bench --help              # the benchmarks
python -m bench inference --help    # one benchmark's options
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import platform
import shlex
import subprocess
import sys
from importlib import import_module
from pathlib import Path

BENCHES = {
    "inference": "the constrained, prefix-cached decoder against one generate call per sample, and its floor",
    "precision": "the local model's CPU precision: fp32 against bf16, same prompts and rows",
    "training": "this project's fine-tuning recipes against TRL's defaults (and LoRA against QLoRA)",
    "finetune_step": "one fine-tuning step, part by part: data, forward, backward, optimizer, evaluation",
    "lower_layers": "the frozen layers computed once against every epoch running the whole model",
    "knn_examples": "nearest-neighbour few-shot: how long each example may be",
    "knn_retriever": "nearest-neighbour few-shot: TF-IDF against sentence-embedding retrieval",
    "encoders": "the sentence-encoder methods beside TF-IDF and the LLM fine-tunings: speed, memory, accuracy",
    "scale": "growth with the data: each data stage at 10k-100k rows",
    "profile": "where a fresh `dvc repro` spends its time, stage by stage",
    "cost_model": "counted FLOPs against measured seconds: how well counted cost predicts time here",
    "engines": "the constrained decoder against llama.cpp on the same GGUF, prompts and label trie",
    "fairness": "each fine-tuned arm against the majority-class answerer and TF-IDF, before and after a change",
    "gpu_check": "the decoder and QLoRA on a GPU (CUDA rows skipped without one)",
}
OUT = Path("docs/benchmarks")


class Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.copy.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT), help="folder for <name>.md ('-': write nothing)")
    sub = ap.add_subparsers(dest="name", required=True, metavar="name")
    for name, help in BENCHES.items():
        module = import_module(f"bench.{name}")
        module.add_arguments(sub.add_parser(name, help=help, description=module.__doc__,
                                            formatter_class=argparse.RawDescriptionHelpFormatter))
    return ap


def machine() -> str:
    from bench.cpu import describe

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    return (f"{describe()}; Python {platform.python_version()}; commit {commit or 'unknown'}"
            + (" with uncommitted changes" if dirty else ""))


def report(name: str, argv: list[str], output: str) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"# bench {name}\n\n{BENCHES[name]}.\n\n"
            f"Written by `python -m bench {shlex.join([name, *argv])}` on {when}.\n\nMachine: {machine()}.\n\n"
            "Everything below is what the command printed; rerun it to measure your machine (absolute times vary "
            "between machines and days: compare rows of one run, as ratios).\n\n"
            f"```text\n{output.rstrip()}\n```\n")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    module = import_module(f"bench.{args.name}")
    tee = Tee(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            module.run(args)
    except KeyboardInterrupt:
        sys.exit(f"bench {args.name}: interrupted; nothing written")
    if args.out != "-":
        path = Path(args.out) / f"{args.name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(report(args.name, argv[argv.index(args.name) + 1:], tee.copy.getvalue()), encoding="utf-8")
        tmp.replace(path)
        print(f"written: {path}")


if __name__ == "__main__":
    main()
