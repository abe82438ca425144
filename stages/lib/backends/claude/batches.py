"""The Message Batches API: a batch's id and request map are stored before it is polled, so an interrupted run
resumes polling it instead of paying for a new one."""
from __future__ import annotations

import json
import time

from tqdm.auto import tqdm

from stages.lib.backends.claude.pricing import BudgetExceeded
from stages.lib.files import read_json, write_json

# The Message Batches API takes at most 100,000 requests and "256 MB" in one batch. The size is the request body
# as sent ({"requests": [...]}, serialised as the SDK sends it); decimal megabytes, less a margin, so a part never
# reaches the limit whichever unit the API counts in.
BATCH_MAX_REQUESTS = 100_000
BATCH_MAX_BYTES = int(256e6 * 0.95)
ENVELOPE = len(b'{"requests":[]}')


def batch_parts(items: list[dict]):
    """Batch requests in parts the Message Batches API accepts: at most BATCH_MAX_REQUESTS, and at most
    BATCH_MAX_BYTES of body (each item serialised as sent, with its separating comma and the envelope)."""
    part, size = [], ENVELOPE
    for item in items:
        n = len(json.dumps(item, separators=(",", ":")).encode()) + (1 if part else 0)
        if part and (len(part) >= BATCH_MAX_REQUESTS or size + n > BATCH_MAX_BYTES):
            yield part
            part, size = [], ENVELOPE
            n -= 1  # the first item of a part has no comma before it
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
    """Poll until the batch has ended, then keep its answers. The API reports the result counts as zero until the
    batch ends, so progress is what it says it is still `processing`, with the time waited."""
    batch = b.client.messages.batches.retrieve(batch_id)
    start = time.monotonic()
    with tqdm(total=len(custom), desc=f"claude batch {batch_id}", unit="req", disable=not b.progress) as bar:
        while batch.processing_status != "ended":
            time.sleep(b.poll_seconds)
            batch = b.client.messages.batches.retrieve(batch_id)
            bar.n = max(len(custom) - batch.request_counts.processing, 0)
            bar.set_postfix_str(f"{batch.processing_status}, {time.monotonic() - start:.0f}s waited")
            bar.refresh()
        bar.n = len(custom)
        bar.refresh()
    for res in b.client.messages.batches.results(batch_id):
        if res.result.type == "succeeded" and res.custom_id in custom:
            key = custom[res.custom_id]
            max_tokens = by_key[key]["max_tokens"] if key in by_key else res.result.message.usage.output_tokens
            b.spent += b.keep(key, res.result.message, max_tokens, None, batch=True)
