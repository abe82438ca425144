"""The frozen layers computed once (`recipe.cache_lower_layers_mb`).

When a recipe trains only the top layers (`recipe.top_layers`), the layers below get no gradient and, with no
dropout there, give a row the same output in every epoch, yet each epoch's forward runs them again. Here their output
for every training row (and validation row, where validation runs) is computed once before training, in the
precision training computes in, and kept in memory. While training, the model's embedding hands each row its cached
output and the frozen layers pass it through, so a step runs the trained layers alone: the same adapter within
floating-point rounding (tests/test_finetuning.py), for the frozen layers' forward once instead of once per epoch
and evaluation. A one-epoch run (nothing to save), a run whose cache would exceed the bound, a model whose frozen
layers have dropout or trainable weights, or one without `embed_tokens` and `layers` (every Llama-style decoder has
them) trains the whole model as before, saying why in one line.
"""
from __future__ import annotations

import contextlib
import time

import torch


class _Stop(Exception):
    """Raised by the hook on the last frozen layer: the rest of the forward is not needed to fill the cache."""


class _PassThrough(torch.nn.Module):
    """A frozen layer whose output is already in the cache."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


class _FromCache(torch.nn.Module):
    """In the embedding's place: each row's cached output of the frozen layers, at its real (unpadded) positions.
    `mask` is the batch's attention mask, set by a hook on the decoder before each forward."""

    def __init__(self, cache: dict[tuple, torch.Tensor], hidden: int, dtype: torch.dtype):
        super().__init__()
        self.cache, self.hidden, self.dtype, self.mask = cache, hidden, dtype, None

    def forward(self, input_ids):
        mask = self.mask.bool() if self.mask is not None else torch.ones_like(input_ids, dtype=torch.bool)
        out = torch.zeros(*input_ids.shape, self.hidden, dtype=self.dtype, device=input_ids.device)
        for i in range(input_ids.shape[0]):
            out[i, mask[i]] = self.cache[tuple(input_ids[i, mask[i]].tolist())].to(input_ids.device)
        return out


def _decoder(model):
    """The decoder stack under whatever wraps it (PEFT, a task head): the module with `embed_tokens` and `layers`."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(inner, "base_model", inner)
    return inner if hasattr(inner, "embed_tokens") and hasattr(inner, "layers") else None


def why_not(model, top_layers: int | None, n_tokens: int, budget_mb: float | None, epochs: float) -> str | None:
    """Why the frozen layers cannot (or need not) be cached for this run, or None when they can."""
    decoder = _decoder(model)
    if not budget_mb:
        return "recipe.cache_lower_layers_mb is off"
    if epochs <= 1:
        return "one epoch: each row passes the frozen layers once anyway"
    if decoder is None:
        return "the model has no embed_tokens and layers to start from"
    frozen = len(decoder.layers) - (top_layers or len(decoder.layers))
    if frozen <= 0:
        return "every layer is trained"
    below = [decoder.embed_tokens, *decoder.layers[:frozen]]
    if any(p.requires_grad for m in below for p in m.parameters()):
        return "a frozen layer has trainable weights"
    if getattr(decoder.config, "attention_dropout", 0.0) or any(
            isinstance(x, torch.nn.Dropout) and x.p > 0 for m in below for x in m.modules()):
        return "the frozen layers have dropout (their output differs between epochs)"
    if (size := n_tokens * decoder.config.hidden_size * 4 / 2**20) > budget_mb:
        return f"the cache would take {size:.0f} MB, above recipe.cache_lower_layers_mb ({budget_mb:.0f})"
    return None


@torch.no_grad()
def fill(model, frozen: int, rows: list[list[int]], batch_size: int, autocast) -> dict[tuple, torch.Tensor]:
    """Each row's output of the bottom `frozen` layers (the model's own forward, stopped after them), by its
    tokens; rows of similar length are batched, right-padded; `autocast()` gives training's precision context."""
    decoder, cache = _decoder(model), {}
    captured = {}

    def stop(module, args, output):
        captured["h"] = output[0] if isinstance(output, tuple) else output
        raise _Stop

    hook = decoder.layers[frozen - 1].register_forward_hook(stop)
    device = decoder.embed_tokens.weight.device
    try:
        unique = sorted({tuple(r) for r in rows}, key=len)
        for start in range(0, len(unique), batch_size):
            batch = unique[start:start + batch_size]
            width = max(len(r) for r in batch)
            ids = torch.zeros(len(batch), width, dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(batch):
                ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
            with autocast(), contextlib.suppress(_Stop):
                decoder(input_ids=ids, attention_mask=mask, use_cache=False)
            for i, r in enumerate(batch):
                cache[r] = captured["h"][i, :len(r)].clone()
    finally:
        hook.remove()
    return cache


@contextlib.contextmanager
def cached(trainer, top_layers: int | None, budget_mb: float | None, epochs: float, with_validation: bool):
    """Within: `trainer`'s model starts each forward from the cached output of its frozen layers (see the module's
    doc); yields a dict saying whether it did (`lower_layers_cached`), and the cache's size or why not."""
    model = trainer.model
    rows = list(trainer.train_dataset["input_ids"])
    if with_validation and trainer.eval_dataset is not None:
        rows += list(trainer.eval_dataset["input_ids"])
    reason = why_not(model, top_layers, sum(len(r) for r in rows), budget_mb, epochs)
    if reason:
        print(f"frozen layers computed every epoch: {reason}")
        yield {"lower_layers_cached": False, "lower_layers_reason": reason}
        return
    decoder = _decoder(model)
    frozen = len(decoder.layers) - top_layers
    # in training's precision: accelerate wraps the model's forward in this autocast when training starts
    start = time.perf_counter()
    cache = fill(model, frozen, rows, trainer.args.per_device_eval_batch_size, trainer.accelerator.autocast)
    seconds = time.perf_counter() - start
    size_mb = sum(t.numel() * t.element_size() for t in cache.values()) / 2**20
    print(f"frozen layers computed once: {frozen} of {len(decoder.layers)} layers, {len(cache)} rows, "
          f"{size_mb:.0f} MB in {seconds:.1f} s")
    embed, layers = decoder.embed_tokens, list(decoder.layers[:frozen])
    source = _FromCache(cache, decoder.config.hidden_size, next(iter(cache.values())).dtype)
    hook = decoder.register_forward_pre_hook(
        lambda module, args, kwargs: setattr(source, "mask", kwargs.get("attention_mask")), with_kwargs=True)
    decoder.embed_tokens = source
    for i in range(frozen):
        decoder.layers[i] = _PassThrough()
    try:
        yield {"lower_layers_cached": True, "lower_layers_cache_mb": round(size_mb, 1),
               "lower_layers_fill_seconds": seconds}
    finally:  # the model is whole again for whatever saves or scores it
        hook.remove()
        decoder.embed_tokens = embed
        for i, layer in enumerate(layers):
            decoder.layers[i] = layer
