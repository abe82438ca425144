"""Counted work: the floating-point operations a method ran, counted from token counts and model shapes, never
from a clock. Every cost that feeds a choice (the cascade's dominance and budget, the decision's ranking, break-even)
is this count priced at a declared hardware profile (`costs.profiles`), so a loaded machine cannot move a result;
measured seconds are reported beside it as a fact about the machine that ran (docs/costs.md).

The model of cost (Kaplan et al. 2020's, with attention counted):
- a transformer token costs 2 x its weights (one multiply-add each; embedding tables are a lookup, and the
  constrained decoder scores only the allowed label tokens, so no vocabulary projection) plus attention: its query
  against every key it sees, scores and weighted sum, 4 x width per key per layer;
- a prompt prefix every row shares runs once per run and is spread over its rows (the decoder's prefix cache);
- training a token costs its forward plus a backward of 2 x forward through the layers gradients reach (LoRA on
  the top k of L layers: k / L of them), each epoch, plus each validation pass;
- a linear model costs 2 x nonzero features x classes per row, and each fit that many per solver iteration.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    parameters: int  # the weights a token passes through (embedding tables and vocabulary projection excluded)
    layers: int
    width: int


def _numel(p) -> int:
    state = getattr(p, "quant_state", None)  # a 4-bit weight stores two values per byte: count the real shape
    return int(state.shape.numel()) if state is not None else int(p.numel())


def shape(model) -> Shape:
    """A Hugging Face transformer's shape (a peft wrapper or a 4-bit base alike)."""
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    skip = set()
    for get in ("get_input_embeddings", "get_output_embeddings"):
        module = getattr(model, get, lambda: None)()
        if module is not None and getattr(module, "weight", None) is not None:
            skip.add(id(module.weight))
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in skip and id(p) not in seen:
            seen.add(id(p))
            total += _numel(p)
    return Shape(total, int(cfg.num_hidden_layers), int(cfg.hidden_size))


def forward_flops(s: Shape, tokens: int, context: int = 0, causal: bool = True) -> float:
    """One forward over `tokens` new tokens that follow `context` tokens already in the cache. Causal: token i
    attends to context + i + 1 keys; bidirectional (an encoder): every token to all of them."""
    keys = tokens * (context + tokens) if not causal else tokens * context + tokens * (tokens + 1) / 2
    return 2.0 * s.parameters * tokens + 4.0 * s.layers * s.width * keys


def training_flops(s: Shape, row_tokens: list[int], epochs: float, trained_layers: int | None,
                   val_tokens: list[int] = (), evaluations: int = 0, causal: bool = True,
                   frozen_once: bool = False) -> float:
    """Training: each row's forward and the backward through the `trained_layers` top layers (None: all), for
    `epochs` passes, plus `evaluations` forward passes over the validation rows. `frozen_once`: the layers below
    the trained ones ran once per row (training's cache of their output), not once per pass."""
    share = min(trained_layers or s.layers, s.layers) / s.layers
    per_pass = sum(forward_flops(s, n, causal=causal) for n in row_tokens)
    val_pass = sum(forward_flops(s, n, causal=causal) for n in val_tokens)
    if frozen_once:
        return (per_pass * ((1 - share) + 3 * share * epochs)
                + val_pass * ((1 - share) * (evaluations > 0) + share * evaluations))
    return per_pass * (1 + 2 * share) * epochs + val_pass * evaluations


def linear_flops(nonzero: int, classes: int) -> float:
    """A linear model's scores for rows with `nonzero` features in all: one multiply-add per feature and class."""
    return 2.0 * nonzero * max(classes, 1)


def price(flops: float | None, profile) -> float | None:
    """Dollars for `flops` on `profile` (its sustained FLOP/s and hourly price)."""
    return None if flops is None else flops / profile.flops_per_second * profile.hourly_price / 3600
