"""Benchmark: constrained, prefix-cached, batched label decoding vs the study's one-`generate`-call-per-sample,
same model, same prompt, same samples, one run. Also measures the floor: each sample's own tokens run once,
batched, with no prompt prefix and no answer.

The constrained decoder runs twice: attending to one shared copy of the prompt prefix (the default) and with a
copy of the prefix in every row of the batch (as before), to check that their labels are identical and measure
what the shared prefix saves. Once more without the prompt (the chat template's own short system turn), to
measure what attending to the prompt's prefix costs; and it counts the tokens each way runs (the sample's own, the
answer's, padding), so the time left after the floor is split into tokens the decoder must run and the rest.
Those tokens bound any decoder that gives the same labels: the floor runs the text alone, so at the floor's own
rate per token a decoder reaches about (text tokens) / (own + answer tokens) of it at best. An estimate, not a
guarantee: small decoding forwards and the floor's long ones need not run at one rate per token. And every token
the decoder runs attends to every prefix token, which the floor never does: the bench times that part of attention
alone (the same kernel, at the shapes the decoder ran) and adds it to the floor's time for those tokens, a bound
for any exact decoder at this kernel's speed.

The pipeline decodes a whole split in one call: `--n 1000` takes every test row (166 on imbalanced, 113 on
multifield), where the prefix's one run is shared by all of them and batches sorted by length pad less.

python -m bench inference --task imbalanced --n 64     # zero-shot and few-shot prompts, generate as well
python -m bench inference --task multifield --n 32 --skip-generate
python -m bench inference --task imbalanced --dtype float32       # on a CPU, in fp32 rather than the registry's
"""
import argparse
import contextlib
import time

import torch
from tabulate import tabulate

from bench.cpu import describe
from stages.lib import paths
from stages.lib.backends import local as local_lm
from stages.lib.backends import shared_prefix
from stages.lib.config import load_params
from stages.lib.files import read_json, read_jsonl
from stages.lib.parsing import parse_answer
from stages.lib.scoring import exact_match


def accuracy(preds: list[dict], records: list[dict], fields: list[str]) -> float:
    """Exact match over every label field, scored as the pipeline scores it (`scoring.exact_match`)."""
    rows = [{"pred": p, "true": r["labels"]} for p, r in zip(preds, records, strict=True)]
    return float(exact_match(rows, fields).mean())


@torch.inference_mode()
def floor(lm, texts, batch_size):
    """Tokens/s of a plain batched forward over the samples' own text (right-padded, sorted by length)."""
    seqs = sorted((lm.encode(t) for t in texts), key=len)
    start = time.perf_counter()
    for i in range(0, len(seqs), batch_size):
        batch = seqs[i : i + batch_size]
        width = max(map(len, batch))
        ids = torch.tensor([s + [lm.pad_id] * (width - len(s)) for s in batch])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch])
        lm.model.model(input_ids=ids, attention_mask=mask)
    seconds = time.perf_counter() - start
    return sum(map(len, seqs)) / seconds, len(seqs) / seconds


def token_cap(text_tokens: float, counts: dict) -> float:
    """The share of the floor that a decoder running `counts`' own and answer tokens, where the floor runs
    `text_tokens`, reaches at best if both run at the floor's rate per token (padding and the prefix's attention only
    lower it)."""
    return text_tokens / (counts["first"] + counts["answer"])


@contextlib.contextmanager
def counting_feeds(lm):
    """Count the tokens the constrained decoder of `lm` runs: each batch's first forward (the rows' own tokens),
    the later ones (the answer's chosen and forced tokens), the right-padding of both, and the shape of each
    forward's attention to the shared prefix."""
    counts, feed, batch = {"first": 0, "answer": 0, "padded": 0, "shapes": []}, lm._feed, lm._classify_batch
    first = [False]

    def counted_feed(cache, mask, pos, seqs, prefix=None):
        real = sum(map(len, seqs))
        counts["first" if first[0] else "answer"] += real
        counts["padded"] += max(map(len, seqs)) * len(seqs) - real
        if prefix is not None:  # (rows, width, prefix length) of each forward's attention to the shared prefix
            counts["shapes"].append((len(seqs), max(map(len, seqs)), prefix[0][0].shape[2]))
        first[0] = False
        return feed(cache, mask, pos, seqs, prefix)

    def counted_batch(*args):
        first[0] = True
        return batch(*args)

    lm._feed, lm._classify_batch = counted_feed, counted_batch
    try:
        yield counts
    finally:
        del lm._feed, lm._classify_batch


@torch.inference_mode()
def prefix_attention_seconds(lm, shapes) -> float:
    """The time the shared-prefix part of attention alone takes, every layer, at the shapes a decoder ran
    (`counting_feeds`' `shapes`): the same kernel, on random queries and keys of the model's heads and dtype.
    Work that no exact decoder avoids: every token the decoder runs attends to every prefix token, so the floor's
    time for those tokens plus this is a bound at this kernel's speed."""
    cfg = lm.model.config
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    dtype, total = next(lm.model.parameters()).dtype, 0.0
    for rows, width, prefix_len in shapes:
        query = torch.randn(1, kv_heads, rows * heads // kv_heads * width, dim, dtype=dtype)
        keys, values = (torch.randn(1, kv_heads, prefix_len, dim, dtype=dtype) for _ in range(2))
        start = time.perf_counter()
        for _ in range(cfg.num_hidden_layers):
            shared_prefix._flash(query, keys, values, scale=dim**-0.5)
        total += time.perf_counter() - start
    return total


def sample_args(ap: argparse.ArgumentParser) -> None:
    """The arguments the decoding benches share: which test rows, which model, what batch."""
    ap.add_argument("--task", default="imbalanced")
    ap.add_argument("--n", type=int, default=64, help="the first N test rows (more than there are: all)")
    ap.add_argument("--model", default=str(paths.BASE_MODEL))
    ap.add_argument("--batch-size", type=int, default=16)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    sample_args(ap)
    ap.add_argument("--prompt", nargs="+", default=["zero_shot", "few_shot"],
                    help="the prompt files, each decoded both ways (the first is the one `generate` uses)")
    ap.add_argument("--skip-generate", action="store_true", help="leave out the slow one-call-per-sample row")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"],
                    help="on a CPU (default: the base model's models.<name>.cpu_dtype, as the pipeline runs it)")


def run(args: argparse.Namespace) -> None:
    params = load_params()
    dtype = args.dtype or params.model_entry(params.base_model).cpu_dtype
    torch.manual_seed(0)
    records = read_jsonl(paths.task_split(args.task, "test"))[: args.n]
    prompts = {name: read_json(paths.prompt(args.task, name)) for name in args.prompt}
    first = prompts[args.prompt[0]]
    fields, labels, texts = first["fields"], first["labels"], [r["text"] for r in records]
    lm = local_lm.LocalLM(*local_lm.load(args.model, cpu_dtype=dtype), batch_size=args.batch_size, progress=False)
    max_new = 10 if len(fields) == 1 else 20 * len(fields)

    rows, t_gen = [], None
    if not args.skip_generate:
        start = time.perf_counter()
        gen = lm.generate(first["system"], texts, max_new_tokens=max_new)
        t_gen = time.perf_counter() - start
        gp = [parse_answer(g["raw"], fields, labels) for g in gen]
        rows.append([f"generate ({args.prompt[0]}; study: 1 call/sample, free text)", len(texts) / t_gen,
                     accuracy(gp, records, fields), sum(any(v is None for v in p.values()) for p in gp) / len(gp),
                     sum(g["input_tokens"] for g in gen) / len(gen)])

    seconds, identical, fed = {}, {}, {}
    for name, prompt in prompts.items():
        preds = {}
        for share, how in ((True, "shared prefix"), (False, "prefix copied per row")):
            lm.share_prefix = share
            with counting_feeds(lm) as fed[name, share]:
                start = time.perf_counter()
                con = lm.classify(prompt["system"], texts, fields, labels)
                seconds[name, share] = time.perf_counter() - start
            preds[share] = [c["pred"] for c in con]
            rows.append([f"constrained {name} ({how}, batch {args.batch_size})", len(texts) / seconds[name, share],
                         accuracy(preds[share], records, fields),
                         sum(any(v is None for v in p.values()) for p in preds[share]) / len(con),
                         sum(c["input_tokens"] for c in con) / len(con)])
        identical[name] = preds[True] == preds[False]
    lm.share_prefix = True

    # the same decoding without the prompt (the chat template's own short system turn instead): what attending to
    # the prompt's prefix costs; its answers are not comparable
    bare = len(lm.encode(local_lm.split_chat(lm.tokenizer, None)[0]))
    with counting_feeds(lm) as fed["no prompt"]:
        start = time.perf_counter()
        lm.classify(None, texts, fields, labels)
        seconds["no prompt"] = time.perf_counter() - start
    rows.append([f"constrained, no prompt ({bare}-token template prefix; timing only)",
                 len(texts) / seconds["no prompt"], None, None, None])
    tok_s, samples_s = floor(lm, texts, args.batch_size)
    rows.append([f"floor: own tokens once, batched ({tok_s:.0f} tok/s)", samples_s, None, None, None])
    print(f"task={args.task} n={len(texts)} model={args.model} dtype={next(lm.model.parameters()).dtype} "
          f"threads={torch.get_num_threads()}")
    print(describe())
    print(tabulate(rows, headers=["mode", "samples/s", "accuracy", "invalid", "prompt tok/sample"],
                   floatfmt=".3f", tablefmt="github", missingval="—"))
    print()
    text_tokens = tok_s / samples_s  # per sample: what the floor runs
    attention = {key: prefix_attention_seconds(lm, c["shapes"]) for key, c in fed.items()}
    for name in prompts:
        t, c = seconds[name, True], fed[name, True]
        cap = token_cap(text_tokens * len(texts), c)
        bound = len(texts) / samples_s / ((c["first"] + c["answer"]) / tok_s + attention[name, True])
        print(f"{name}: shared prefix vs a copy per row {seconds[name, False] / t:.2f}x samples/s, labels identical: "
              f"{identical[name]}; constrained reaches {len(texts) / t / samples_s:.0%} of the floor, where the "
              f"tokens it must run (own + answer) allow about {cap:.0%} at the floor's rate per token, and "
              f"{bound:.0%} with their attention to the {c['shapes'][0][2]}-token prefix added at this kernel's speed")
    print()
    print("Per sample, with the shared prefix: the tokens the decoder runs after the prefix (the sample's own, with "
          "the chat template around it; the answer's, chosen and forced), its batches' padding, the floor's time for "
          "the real ones, the prefix part of attention alone (padding included, as the decoder runs it), and the "
          "time taken")
    table = []
    for key in [*prompts, "no prompt"]:
        run = key if key == "no prompt" else (key, True)
        c, t = fed[run], seconds[run]
        table.append([key, c["first"] / len(texts), c["answer"] / len(texts), c["padded"] / len(texts),
                      (c["first"] + c["answer"]) / tok_s / len(texts) * 1e3, attention[run] / len(texts) * 1e3,
                      t / len(texts) * 1e3])
    print(tabulate(table, headers=["prompt", "own tok", "answer tok", "pad tok", "floor ms (own+answer)",
                                   "prefix attn ms", "ms"], floatfmt=".1f", tablefmt="github"))
    for name in args.prompt[1:]:
        print(f"{name} / {args.prompt[0]} time per sample (shared prefix): "
              f"{seconds[name, True] / seconds[args.prompt[0], True]:.2f}x")
    if t_gen:
        print(f"constrained vs generate ({args.prompt[0]}): {t_gen / seconds[args.prompt[0], True]:.1f}x samples/s")

