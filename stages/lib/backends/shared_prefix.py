"""Attention over a prompt prefix that every row of a batch shares, without a copy of it per row.

The prefix (system turn: instruction, labels, few-shot block) is run once, batch 1; its keys and values stay that
size. A batch of samples then runs on a cache that holds only the samples' own tokens, and each layer attends in
two parts, merged exactly by their log-sum-exp as shared-prefix ("cascade") attention kernels do:
- the prefix part: every row's queries against the one prefix copy (broadcast, never repeated per row or per
  head group), with no mask (the prefix is all real tokens and precedes every row's own);
- the row part: each row's queries against its own cached tokens, under the padding and causal mask.
Without it, each batch deep-copied the prefix cache B times, and every decoding step concatenated and re-read
the whole prefix for every row: on a few-shot prompt most of the work.

`attention` is registered with transformers' AttentionInterface as `shared_prefix` (its mask is sdpa's); a call
without `shared_prefix=` (the prefix run itself, `generate`, anything else) is plain SDPA, unchanged.
"""
from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

NAME = "shared_prefix"


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, shared_prefix=None, **kwargs):
    """query (B, H, q, d); key/value (B, Hkv, S, d): the rows' own tokens; `shared_prefix`, a list per layer of
    (keys, values) of shape (1, Hkv, P, d). Returns (B, q, H, d) as transformers' attention functions do."""
    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    pk, pv = shared_prefix[module.layer_idx]
    b, h, q, d = query.shape
    kv_heads, s = key.shape[1], key.shape[2]
    g = h // kv_heads  # the query heads that share each key/value head (h = kv_heads x g, grouped in that order)
    # prefix part: every row's queries of a key/value head as one long query block against the one prefix copy
    grouped = query.view(b, kv_heads, g, q, d).permute(1, 0, 2, 3, 4).reshape(1, kv_heads, b * g * q, d)
    out_p, lse_p = _flash(grouped, pk, pv, scale=scaling)
    out_p = out_p.view(kv_heads, b, g, q, d).permute(1, 0, 2, 3, 4).reshape(b, h, q, d)
    lse_p = lse_p.view(kv_heads, b, g, q).permute(1, 0, 2, 3).reshape(b, h, q)
    # the rows' own part, under the padding and causal mask (sdpa's, or causal where sdpa would skip it)
    if attention_mask is None:
        attention_mask = torch.ones(q, s, dtype=torch.bool, device=query.device).tril(s - q)[None, None]
    out_s, lse_s = _flash(query, key.repeat_interleave(g, 1), value.repeat_interleave(g, 1),
                          attn_mask=attention_mask.expand(b, 1, q, s), scale=scaling)
    # merge by log-sum-exp: softmax over [prefix, own] = each part's softmax weighted by its share of the mass
    w_p = torch.sigmoid(lse_p - lse_s)[..., None].to(out_p.dtype)
    out = out_p * w_p + out_s * (1 - w_p)
    return out.transpose(1, 2).contiguous(), None


def _flash(query, key, value, attn_mask=None, scale=None):
    """(output, log-sum-exp) of scaled dot-product attention: PyTorch's CPU flash kernel returns both; elsewhere
    the log-sum-exp is computed from the scores."""
    if query.device.type == "cpu":
        if attn_mask is not None and attn_mask.dtype == torch.bool:  # the kernel takes an additive mask
            attn_mask = torch.zeros(attn_mask.shape, dtype=query.dtype).masked_fill(~attn_mask, float("-inf"))
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, False,
                                                                          attn_mask=attn_mask, scale=scale)
    scores = (query @ key.transpose(-1, -2)).float() * (scale if scale is not None else query.shape[-1] ** -0.5)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    lse = scores.logsumexp(-1)
    return ((scores - lse[..., None]).exp().to(value.dtype) @ value), lse


def enable(model) -> None:
    """Register the attention (once per process) and switch `model` to it; its other calls stay SDPA."""
    if NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionInterface.register(NAME, attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)


def prefix_states(cache) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """The prefix run's (keys, values) per layer, from its DynamicCache."""
    if cache is None or cache.get_seq_length() == 0:
        return None
    return [(layer.keys, layer.values) for layer in cache.layers]
