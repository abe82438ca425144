"""Dollars: for a response, from the API's own usage fields, and for requests not yet sent, before they are."""
from __future__ import annotations

from stages.lib.errors import PipelineError


class BudgetExceeded(PipelineError):
    pass


def cost(usage: dict, prices: dict, batch: bool = False) -> float:
    """Dollars for one response from the API's own usage fields; prices are per million tokens."""
    dollars = (usage.get("input_tokens", 0) * prices["input"] + usage.get("output_tokens", 0) * prices["output"]
               + (usage.get("cache_creation_input_tokens") or 0) * prices["cache_write"]
               + (usage.get("cache_read_input_tokens") or 0) * prices["cache_read"]) / 1e6
    return dollars * (1 - prices["batch_discount"]) if batch else dollars


def estimate(client, todo: list[dict], prices: dict, min_cache_tokens: int, batch: bool) -> float:
    """Dollars for the requests `todo`, from the token-counting endpoint: the first request counted exactly, the
    others scaled by their length; the shared system prefix billed as one cache write and then reads only if it
    reaches the model's minimum cacheable length (else as plain input); output at most `max_tokens`, which
    includes the thinking allowance."""
    if not todo:
        return 0.0
    count = lambda r: client.messages.count_tokens(  # noqa: E731
        **{k: v for k, v in r.items() if k != "max_tokens"}).input_tokens
    first = count(todo[0])
    prefix = count({**todo[0], "messages": [{"role": "user", "content": "."}]})
    per_char = max(first - prefix, 1) / max(len(todo[0]["messages"][0]["content"]), 1)
    own = sum(max(len(r["messages"][0]["content"]) * per_char, 1) for r in todo)
    usage = {"input_tokens": own, "output_tokens": sum(r["max_tokens"] for r in todo)}
    if prefix >= min_cache_tokens:
        usage |= {"cache_creation_input_tokens": prefix, "cache_read_input_tokens": prefix * (len(todo) - 1)}
    else:
        usage["input_tokens"] += prefix * len(todo)
    return cost(usage, prices, batch)
