"""The Message Batches API: a batch's id and request map are stored before it is polled, so an interrupted run
resumes polling it instead of paying for a new one."""
from __future__ import annotations

import json
import time

from tqdm.auto import tqdm

from stages.lib.backends.claude.pricing import BudgetExceeded
from stages.lib.files import read_json, write_json

# The Message Batches API takes at most this many requests, and this many bytes, in one batch.
BATCH_MAX_REQUESTS = 100_000
BATCH_MAX_BYTES = 256 * 2**20


def batch_parts(items: list[dict]):
    """Batch requests in parts the Message Batches API accepts: at most BATCH_MAX_REQUESTS and BATCH_MAX_BYTES."""
    part, size = [], 0
    for item in items:
        n = len(json.dumps(item).encode())
        if part and (len(part) >= BATCH_MAX_REQUESTS or size + n > BATCH_MAX_BYTES):
            yield part
            part, size = [], 0
        part.append(item)
        size += n
    if part:
        yield part


def send_batches(backend, by_key: dict[str, dict]) -> None:
    """Collect the batches an interrupted run left (paying nothing), then send what is still missing."""
    b = backend
    for path in sorted(b.cache.batches.glob("*.json")):
        pending = read_json(path)
        if set(pending["keys"].values()) & set(by_key):
            _collect(b, pending["id"], pending["keys"], by_key)
            path.unlink()
    todo = {k: r for k, r in by_key.items() if b.cache.get(k) is None}  # never sent, errored or expired
    for part in batch_parts([{"custom_id": k[:64], "params": r} for k, r in todo.items()]):
        if b.spent >= b.max_usd:
            raise BudgetExceeded(f"spent ${b.spent:.4f}, reaching claude.max_usd=${b.max_usd}; answers "
                                 f"so far are cached in {b.cache} — raise the budget and rerun")
        custom = {item["custom_id"]: k for item, k in zip(part, (b.cache.key(i["params"]) for i in part), strict=True)}
        batch = b.client.messages.batches.create(requests=part)
        path = b.cache.batches / f"{batch.id}.json"
        write_json(path, {"id": batch.id, "keys": custom})
        _collect(b, batch.id, custom, by_key)
        path.unlink()


def _collect(b, batch_id: str, custom: dict[str, str], by_key: dict[str, dict]) -> None:
    batch = b.client.messages.batches.retrieve(batch_id)
    with tqdm(total=len(custom), desc=f"claude batch {batch_id}", unit="req", disable=not b.progress) as bar:
        while batch.processing_status != "ended":
            time.sleep(b.poll_seconds)
            batch = b.client.messages.batches.retrieve(batch_id)
            c = batch.request_counts
            bar.n = c.succeeded + c.errored + c.canceled + c.expired
            bar.refresh()
    for res in b.client.messages.batches.results(batch_id):
        if res.result.type == "succeeded" and res.custom_id in custom:
            key = custom[res.custom_id]
            max_tokens = by_key[key]["max_tokens"] if key in by_key else res.result.message.usage.output_tokens
            b.spent += b.keep(key, res.result.message, max_tokens, None, batch=True)
