"""A local Hugging Face causal LM as a classifier backend.

Two ways to answer:
- `classify` (constrained, the default): the prompt's shared prefix (system turn: instruction, labels,
  few-shot block) is run once and its key/value cache reused for every sample; each batch runs only its own
  tokens, then walks a token trie of the allowed answers, choosing the most likely allowed next token at each
  branch and never running the tokens a branch forces unless a later field needs them. Every answer is a
  valid label, and a sample costs about its own tokens once.
- `generate` (the study's way, kept to measure against): free greedy generation of the whole prompt, one call
  per sample, parsed back to labels by `stages.parsing`.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import os
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from stages.lib import counting, cpu
from stages.lib.backends import shared_prefix
from stages.lib.methods.base import batched
from stages.lib.templates import with_prefixes
from stages.lib.truncation import ANSWER_ROOM, truncate_tokens

SENTINEL = "\u0000TEXT\u0000"


def load(path: str, adapter: str | None = None, quantization_config=None, cpu_dtype: str = "auto"):
    """The model on the GPU in bf16 where there is one (each torchrun process on its own), else on the CPU in
    `cpu_dtype` (the registry entry's; `auto`: bf16 where the CPU has it natively, else fp32).

    A LoRA adapter trained on a full-precision base is merged (no adapter cost per token). One trained on a 4-bit
    base (QLoRA, `quantization_config` given) is scored as it was trained: on the same 4-bit base, the adapter
    applied and not merged (merging into 4-bit weights re-rounds them; merging into a higher-precision base
    scores a model that was never trained)."""
    cuda = torch.cuda.is_available()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}" if cuda else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(path)
    dtype = torch.bfloat16 if cuda else getattr(torch, cpu.cpu_dtype(cpu_dtype))
    if quantization_config is not None:
        dtype = quantization_config.bnb_4bit_compute_dtype
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quantization_config, dtype=dtype,
                                                     device_map={"": device})
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    if adapter:
        from stages.lib.adapters import load_adapter

        model = load_adapter(model, adapter)
        if quantization_config is None:
            model = model.merge_and_unload()
    return model.eval(), tokenizer


def precision_info(model, adapter: str | None) -> dict:
    """What the prediction meta records about the weights that answered."""
    quantized = any(type(m).__name__ == "Linear4bit" for m in model.modules())
    info = {"base_precision": "nf4" if quantized else str(next(model.parameters()).dtype).removeprefix("torch.")}
    return info | ({"adapter_merged": not hasattr(model, "peft_config")} if adapter else {})


def on_model_device(method):
    """Run a backend method with the model's device as the default for every tensor it creates."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with torch.device(self.device):
            return method(self, *args, **kwargs)
    return wrapper


def split_chat(tokenizer, system: str | None, extra_turns: list[dict] | None = None) -> tuple[str, str]:
    """Render the chat template around a placeholder; return the text before and after the sample's text."""
    messages = ([{"role": "system", "content": system}] if system is not None else []) + (extra_turns or [])
    messages.append({"role": "user", "content": SENTINEL})
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    before, after = rendered.split(SENTINEL)
    return before, after


# -- answers as token tries -------------------------------------------------------------------------------------

@dataclass
class Node:
    children: dict[int, Node] = field(default_factory=dict)
    label: str | None = None  # set on the node that completes a candidate


def answer_segments(fields: list[str], labels: dict[str, list[str]]) -> tuple[str, list[dict[str, str]]]:
    """The answer as a forced opening plus, per field, {label: text that completes this field}.

    One field: the label itself (the end-of-turn token is appended at tokenisation).
    Several: the JSON object `{"A": "x", "B": "y"}`; field i's text is the label plus everything up to the next
    label (`", "B": "` or `"}`), so each candidate is tokenised as it appears in the full answer."""
    if len(fields) == 1:
        return "", [{lb: lb for lb in labels[fields[0]]}]
    dump = functools.partial(json.dumps, ensure_ascii=False)  # as the fine-tuning targets write it (answer_text)
    opening = '{' + dump(fields[0]) + ': "'
    segs = []
    for i, f in enumerate(fields):
        tail = '"}' if i == len(fields) - 1 else '", ' + dump(fields[i + 1]) + ': "'
        segs.append({lb: dump(lb)[1:-1] + tail for lb in labels[f]})
    return opening, segs


def build_trie(tokenizer, candidates: dict[str, str], end_id: int | None) -> Node:
    root = Node()
    for label, text in candidates.items():
        ids = tokenizer.encode(text, add_special_tokens=False) + ([end_id] if end_id is not None else [])
        node = root
        for t in ids:
            node = node.children.setdefault(t, Node())
        if node.label is not None and node.label != label:
            raise ValueError(f"labels {node.label!r} and {label!r} tokenise identically")
        node.label = label
    return root


def follow_forced(node: Node) -> tuple[Node, list[int]]:
    """Walk down while there is only one way to go."""
    forced = []
    while node.label is None and len(node.children) == 1:
        (t, node), = node.children.items()
        forced.append(t)
    return node, forced


def decided_at_first_branch(root: Node) -> bool:
    """Whether every token allowed at the trie's first choice leads, by forced tokens only, to one label: then the
    renormalised scores of that one choice are the exact distribution over every label."""
    return root.label is None and all(follow_forced(child)[0].label is not None for child in root.children.values())


# -- the backend -----------------------------------------------------------------------------------------------

class LocalLM:
    def __init__(self, model, tokenizer, batch_size: int = 16, max_new_tokens: int = 10, progress: bool = True,
                 info: dict | None = None, share_prefix: bool = True):
        self.model, self.tokenizer, self.info = model, tokenizer, info or {}
        self.device = next(model.parameters()).device
        # the body and the head through the model's own accessors (a PEFT wrapper or another architecture keeps
        # them elsewhere than `.model` / `.lm_head`), and its final-logit soft-capping where it has one
        self.decoder, self.head = model.get_decoder(), model.get_output_embeddings()
        shared_prefix.enable(self.decoder)  # batches attend to one copy of the shared prefix (plain SDPA otherwise)
        self.share_prefix = share_prefix  # False: a copy of the prefix per row, as before (bench/inference.py)
        self.softcap = getattr(model.config, "final_logit_softcapping", None)
        self.shape = counting.shape(model)  # what each row's counted work (`flops`) is priced from
        self.batch_size, self.max_new_tokens, self.progress = batch_size, max_new_tokens, progress
        self.end_id = (
            tokenizer.convert_tokens_to_ids("<|im_end|>")
            if "<|im_end|>" in tokenizer.get_vocab()
            else tokenizer.eos_token_id
        )
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end_id  # for padding

    def describe(self) -> dict:
        return {"provider": "local", **self.info}

    def option_scores(self, hidden: torch.Tensor, options: list[int]) -> torch.Tensor:
        """The logits of the allowed next tokens only, computed in fp32 (in bf16, logits of 16-32 are 0.125
        apart and near-ties would go to the first option), soft-capped as the model's own head would."""
        weight = self.head.weight[options].float()
        scores = hidden.float() @ weight.T
        if getattr(self.head, "bias", None) is not None:
            scores = scores + self.head.bias[options].float()
        if self.softcap:
            scores = torch.tanh(scores / self.softcap) * self.softcap
        return scores

    def truncate(self, text: str, max_tokens: int | None, system: str | None) -> tuple[str, bool]:
        if max_tokens is None:  # the context left after the prompt around the text and room for the answer
            before, after = split_chat(self.tokenizer, system)
            max_tokens = self.model.config.max_position_embeddings - len(self.encode(before + after)) - ANSWER_ROOM
        return truncate_tokens(self.tokenizer, text, max_tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` as every prompt part is encoded here: no special tokens (the chat template has them)."""
        return self.tokenizer.encode(text, add_special_tokens=False)

    @torch.inference_mode()
    def _prefix_cache(self, prefix_ids: list[int]):
        cache = DynamicCache()
        if prefix_ids:
            self.decoder(input_ids=torch.tensor([prefix_ids]), cache=cache, use_cache=True)
        return cache

    @on_model_device
    @torch.inference_mode()
    def classify(self, system: str | None, texts: list[str], fields: list[str], labels: dict[str, list[str]],
                 user_prefixes: list[str] | None = None) -> list[dict]:
        """Constrained answers for `texts`. `user_prefixes` (e.g. per-sample few-shot examples) go before each
        text inside the user turn and are not shared. Returns per text: labels, raw answer, token counts."""
        before, after = split_chat(self.tokenizer, system)
        prefix_ids = self.encode(before)
        prefix = self._prefix_cache(prefix_ids)
        opening, segments = answer_segments(fields, labels)
        tries = [build_trie(self.tokenizer, seg, self.end_id if len(fields) == 1 else None) for seg in segments]
        opening_ids = self.encode(opening) if opening else []
        suffixes = [self.encode(prefix + t + after) + opening_ids
                    for prefix, t in with_prefixes(texts, user_prefixes)]

        shared = counting.forward_flops(self.shape, len(prefix_ids)) / max(len(texts), 1)  # run once, for all
        order = sorted(range(len(texts)), key=lambda i: len(suffixes[i]))  # similar lengths batch with little padding
        results: list[dict | None] = [None] * len(texts)
        bar = tqdm(total=len(texts), desc="classify", unit="sample", disable=not self.progress, leave=False)
        for idx in batched(order, self.batch_size):
            start = time.perf_counter()
            out = self._classify_batch(prefix, len(prefix_ids), [suffixes[i] for i in idx], tries, fields)
            per = (time.perf_counter() - start) / len(idx)
            for i, (pred, answer_ids, confidence) in zip(idx, out, strict=True):
                results[i] = {
                    "pred": pred,
                    **confidence,
                    "raw": opening + self.tokenizer.decode(answer_ids, skip_special_tokens=True),
                    "input_tokens": len(prefix_ids) + len(suffixes[i]) - len(opening_ids),
                    "output_tokens": len(opening_ids) + len(answer_ids),
                    "latency_s": per,
                    "flops": shared + counting.forward_flops(self.shape, len(suffixes[i]) + len(answer_ids),
                                                             context=len(prefix_ids)),
                }
            bar.update(len(idx))
        bar.close()
        return results

    def _classify_batch(self, prefix, prefix_len: int, suffixes: list[list[int]], tries: list[Node], fields):
        """One batch, decoded together on top of the shared prefix's cache (`prefix`, batch 1): its keys and values
        are read by every row through `shared_prefix` attention, never copied, and the batch's cache holds the
        rows' own tokens only (with `share_prefix` off, a copy of the prefix per row instead). Invariants:
        - `active` lists the samples still deciding, in cache-row order: row r of the cache (and of `mask`, `pos`)
          belongs to sample `active[r]`; a finished sample's row is dropped with `batch_select_indices`.
        - `pos[r]` is the number of real tokens row r has run (prefix + its own), the next position id; `mask` has
          one column per slot of the batch's cache, 1 for a real token and 0 for right-padding, so padded slots
          are never attended to and positions never count them.
        - `pending[i]` holds the tokens sample i must run next: its suffix at first, then the token it chose plus
          the tokens its trie branch forces. Forced tokens are only appended to `chosen` and deferred to `pending`,
          so they run in the same forward as the next choice; after a sample's last field nothing more runs.
        """
        n = len(suffixes)
        if self.share_prefix:
            cache, mask = DynamicCache(), torch.zeros(n, 0, dtype=torch.long)
            prefix = shared_prefix.prefix_states(prefix)
        else:  # the prefix's cache copied into every row, the mask and positions counting it
            cache, mask, prefix = copy.deepcopy(prefix), torch.ones(n, prefix_len, dtype=torch.long), None
            if prefix_len:
                cache.batch_repeat_interleave(n)
        pos = torch.full((n,), prefix_len, dtype=torch.long)
        field_idx = [0] * n
        node = [tries[0]] * n
        chosen: list[list[int]] = [[] for _ in range(n)]
        preds: list[dict] = [{} for _ in range(n)]
        active = list(range(n))  # rows of the cache, in sample order
        # Each field's confidence: the product, over the branches its answer took, of the chosen token's probability
        # renormalised over the allowed ones (forced tokens: 1), i.e. the label's probability under the constrained
        # decoder. Where the first branch decides the label (`exact`), that branch is the whole distribution.
        exact = len(fields) == 1 and decided_at_first_branch(tries[0])
        path_logp, confidence = [0.0] * n, [{} for _ in range(n)]
        dist: list[dict | None] = [None] * n
        pending = [list(s) for s in suffixes]  # tokens each active sample still has to run

        while active:
            hidden, mask, pos = self._feed(cache, mask, pos, [pending[i] for i in active], prefix)
            keep_rows, next_active = [], []
            for row, i in enumerate(active):
                options = list(node[i].children)
                logp = torch.log_softmax(self.option_scores(hidden[row], options), -1)
                best = int(torch.argmax(logp))
                t = options[best]
                path_logp[i] += float(logp[best])
                if exact and field_idx[i] == 0 and node[i] is tries[0]:  # the first branch decides the label
                    dist[i] = {follow_forced(node[i].children[o])[0].label: float(lp.exp())
                               for o, lp in zip(options, logp, strict=True)}
                nd, forced = follow_forced(node[i].children[t])
                step = [t] + forced
                chosen[i] += step
                pending[i] = step
                while nd.label is not None:  # a field is complete
                    preds[i][fields[field_idx[i]]] = nd.label
                    confidence[i][fields[field_idx[i]]] = math.exp(path_logp[i])
                    path_logp[i] = 0.0
                    field_idx[i] += 1
                    if field_idx[i] == len(fields):
                        break
                    nd, forced = follow_forced(tries[field_idx[i]])
                    chosen[i] += forced
                    pending[i] += forced
                node[i] = nd
                if field_idx[i] < len(fields):
                    keep_rows.append(row)
                    next_active.append(i)
            if next_active and len(next_active) < len(active):
                cache.batch_select_indices(torch.tensor(keep_rows))
                mask, pos = mask[keep_rows], pos[keep_rows]
            active = next_active
        return [(preds[i], [t for t in chosen[i] if t != self.end_id],
                 {"confidence": confidence[i], "confidence_kind": "exact" if exact else "path",
                  **({"probs": {fields[0]: dist[i]}} if exact else {})}) for i in range(n)]

    def _feed(self, cache, mask, pos, seqs: list[list[int]], prefix=None):
        """Run each row's tokens (right-padded) on top of the shared prefix and the rows' cache; return each row's
        last real hidden state."""
        lengths = torch.tensor([len(s) for s in seqs])
        width = int(lengths.max())
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        new_mask = torch.zeros(len(seqs), width, dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
            new_mask[r, : len(s)] = 1
        position_ids = pos[:, None] + torch.arange(width)[None, :]
        mask = torch.cat([mask, new_mask], dim=1)
        out = self.decoder(input_ids=ids, attention_mask=mask, position_ids=position_ids, cache=cache, use_cache=True,
                           shared_prefix=prefix)
        last = out.last_hidden_state[torch.arange(len(seqs)), lengths - 1]
        return last, mask, pos + lengths

    @on_model_device
    @torch.inference_mode()
    def generate(self, system: str | None, texts: list[str], user_prefixes: list[str] | None = None,
                 max_new_tokens: int | None = None) -> list[dict]:
        """The study's inference: the whole prompt through `generate`, greedy, one sample at a time."""
        before, after = split_chat(self.tokenizer, system)
        results = []
        pairs = with_prefixes(texts, user_prefixes)
        for prefix, text in tqdm(pairs, desc="generate", unit="sample", disable=not self.progress, leave=False):
            ids = torch.tensor([self.encode(before + prefix + text + after)])
            start = time.perf_counter()
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens or self.max_new_tokens,
                do_sample=False, eos_token_id=self.end_id, pad_token_id=self.pad_id,
            )
            new = out[0, ids.shape[1]:].tolist()
            results.append({
                "raw": self.tokenizer.decode(new, skip_special_tokens=True),
                "input_tokens": ids.shape[1],
                "output_tokens": len(new),
                "latency_s": time.perf_counter() - start,
                "flops": counting.forward_flops(self.shape, ids.shape[1] + len(new)),
            })
        return results
