"""Benchmark: this project's constrained, prefix-cached decoder against llama.cpp (`llama-cpp-python`, the engine a
CPU user would pick) on the same GGUF file, the same prompt tokens and the same label trie, one after the other in
one run, on the learning-curve task's test rows. llama.cpp keeps the shared prefix (the system turn) in its KV
cache and walks the trie greedily, as the decoder does: per row, the row's own tokens, then at each branch the
most likely allowed token. Reported: samples/s for each, and how often their labels agree. Skipped, with one line,
where `llama_cpp` is not importable (it builds from source: `pip install llama-cpp-python`).

python -m bench engines                        # the first of learning_curve.tasks, every test row
python -m bench engines --n 50 --threads 2
"""
import argparse
import os
import time

from tabulate import tabulate


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--task", default=None, help="default: the first of learning_curve.tasks")
    ap.add_argument("--n", type=int, default=None, help="test rows (default: all)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))


def llama_cpp_labels(llm, prefix_ids: list[int], suffixes: list[list[int]], trie) -> list[str]:
    """Greedy over the trie, on llama.cpp: the prefix evaluated once and kept in the KV cache, each row's tokens
    evaluated after it (the cache cut back to the prefix between rows)."""
    import numpy as np

    from stages.lib.backends.local import follow_forced

    llm.reset()
    llm.eval(prefix_ids)
    out = []
    for suffix in suffixes:
        llm.n_tokens = len(prefix_ids)  # keep the prefix's keys and values; drop the last row's
        llm._ctx.kv_cache_seq_rm(-1, len(prefix_ids), -1)
        llm.eval(suffix)
        node, forced = follow_forced(trie)
        if forced:
            llm.eval(forced)
        while node.label is None:
            logits = np.asarray(llm.scores[llm.n_tokens - 1])
            options = list(node.children)
            token = options[int(np.argmax(logits[options]))]
            node, forced = follow_forced(node.children[token])
            if node.label is None:
                llm.eval([token, *forced])
        out.append(node.label)
    return out


def run(args: argparse.Namespace) -> None:
    try:
        from llama_cpp import Llama
    except ImportError:
        print("skipped: llama_cpp is not importable here (pip install llama-cpp-python builds it from source)")
        return
    import torch

    from stages.lib import paths
    from stages.lib.backends.local import answer_segments, build_trie, split_chat
    from stages.lib.backends.prompted_backend import prompted_backend
    from stages.lib.checkpoints import gguf_location
    from stages.lib.config import load_params
    from stages.lib.files import read_json, read_jsonl

    params = load_params()
    task = args.task or params.learning_curve.tasks[0]
    cfg = params.method("zero_shot")
    prompt = read_json(paths.prompt(task, cfg.prompt))
    if len(prompt["fields"]) != 1:
        raise SystemExit(f"{task}: one label field only (the trie walk here answers one field)")
    test = read_jsonl(paths.task_split(task, "test"))[: args.n]
    torch.set_num_threads(args.threads)
    ours = prompted_backend(params, cfg.batch_size)
    texts = [ours.truncate(r["text"], cfg.max_input_tokens, prompt["system"])[0] for r in test]
    start = time.perf_counter()
    decoded = [a["pred"][prompt["fields"][0]] for a in ours.classify(prompt["system"], texts, prompt["fields"],
                                                                     prompt["labels"])]
    ours_s = time.perf_counter() - start
    # the same tokens for llama.cpp: the chat template split around the text, the trie of the labels
    before, after = split_chat(ours.tokenizer, prompt["system"])
    prefix_ids = ours.encode(before)
    suffixes = [ours.encode(t + after) for t in texts]
    _, segments = answer_segments(prompt["fields"], prompt["labels"])
    trie = build_trie(ours.tokenizer, segments[0], ours.end_id)
    directory, filename = gguf_location(params.model_entry(params.base_model).source)
    llm = Llama(model_path=os.path.join(directory, filename), n_ctx=4096, n_threads=args.threads,
                n_batch=512, logits_all=True, verbose=False)
    start = time.perf_counter()
    theirs = llama_cpp_labels(llm, prefix_ids, suffixes, trie)
    llama_s = time.perf_counter() - start
    agree = sum(a == b for a, b in zip(decoded, theirs, strict=True)) / len(test)
    print(f"{task}: {len(test)} test rows, zero-shot prompt, {args.threads} threads, GGUF {filename}")
    print(tabulate([["this project's decoder (transformers)", len(test) / ours_s, ""],
                    ["llama.cpp (llama-cpp-python), prefix in KV cache", len(test) / llama_s, f"{agree:.1%}"]],
                   headers=["engine", "samples/s", "label agreement with the decoder"], floatfmt=".2f",
                   tablefmt="github"))
