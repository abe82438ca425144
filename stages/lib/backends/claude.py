"""Claude (Anthropic API) as a prompting backend, with the same `classify`/`generate` calls as `LocalLM`.

- Valid by construction: `classify` asks for structured output, a JSON schema with one enum per label field;
  `max_tokens` is sized from the longest allowed answer (output-token rate limits count `max_tokens`).
- Cheap by construction: the system turn (instruction, labels, few-shot block) carries `cache_control`; the
  estimate counts cache writes and reads only when that prefix reaches the model's `min_cache_tokens` (the API
  silently caches nothing below it). `claude.batch: true` sends the work through the Message Batches API.
- Concurrent: `claude.concurrency` requests in flight; a 429's `retry-after` pauses every worker, not just one.
- Never pays twice: every response is kept under the hash of its request in `claude.cache_dir` (default: the
  per-user cache, shared by checkouts and `dvc exp run --queue` copies). A batch's id and request map are stored
  before it is polled, so an interrupted run resumes polling it instead of paying for a new one.
- A failure is never a result: a request that still fails after the SDK's retries fails the stage, after every
  answer that did arrive is cached; after `max_consecutive_failures` failures in a row nothing more is sent.
The API key is read by the SDK from ANTHROPIC_API_KEY and never written anywhere.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from stages.lib.config import Params
from stages.lib.errors import PipelineError
from stages.lib.files import atomic_path, read_json, write_json
from stages.lib.paths import user_cache
from stages.lib.templates import answer_budget, answer_schema
from stages.lib.tokens import CHARS_PER_TOKEN, truncate_chars


def cost(usage: dict, prices: dict, batch: bool = False) -> float:
    """Dollars for one response from the API's own usage fields; prices are per million tokens."""
    dollars = (usage.get("input_tokens", 0) * prices["input"] + usage.get("output_tokens", 0) * prices["output"]
               + (usage.get("cache_creation_input_tokens") or 0) * prices["cache_write"]
               + (usage.get("cache_read_input_tokens") or 0) * prices["cache_read"]) / 1e6
    return dollars * (1 - prices["batch_discount"]) if batch else dollars


class BudgetExceeded(PipelineError):
    pass


class Gate:
    """Shared by every worker: a 429's retry-after closes it for all of them, so concurrency never turns into
    a storm of retries. Hooked into the HTTP client, so the SDK's own retries wait at it too."""

    def __init__(self):
        self._until, self._lock = 0.0, threading.Lock()

    def wait(self, *_) -> None:
        while (delay := self._until - time.monotonic()) > 0:
            time.sleep(delay)

    def on_response(self, response) -> None:
        if response.status_code == 429:
            try:
                seconds = float(response.headers.get("retry-after", "1"))
            except ValueError:
                seconds = 1.0
            with self._lock:
                self._until = max(self._until, time.monotonic() + seconds)


def make_client(**kwargs):
    """The SDK's client (its own retries with backoff honouring retry-after), with one Gate for all workers."""
    import anthropic

    gate = Gate()
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [gate.wait], "response": [gate.on_response]})
    return anthropic.Anthropic(http_client=http, **kwargs)


class ClaudeBackend:
    def __init__(self, client, model_id: str, prices: dict, cache_dir: str | Path, max_usd: float,
                 min_cache_tokens: int, context_tokens: int = 200_000, max_tokens: int | None = None,
                 batch: bool = False, concurrency: int = 8, max_consecutive_failures: int = 5, poll_seconds: float = 30, progress: bool = True):
        self.client, self.model_id, self.prices = client, model_id, prices
        self.cache_dir, self.max_usd, self.min_cache_tokens = Path(cache_dir), max_usd, min_cache_tokens
        self.context_tokens = context_tokens
        self.max_tokens, self.batch, self.concurrency = max_tokens, batch, concurrency
        self.max_consecutive_failures, self.poll_seconds, self.progress = max_consecutive_failures, poll_seconds, progress

    @classmethod
    def from_params(cls, params: Params, name: str) -> "ClaudeBackend":
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise PipelineError(f"model {name!r} needs ANTHROPIC_API_KEY in the environment (it is never read from files)")
        entry, cfg = params.model_entry(name), params.claude
        client = make_client(max_retries=cfg.max_retries, timeout=cfg.timeout_s)
        return cls(client, entry.id, dataclasses.asdict(entry.prices), cfg.cache_dir or user_cache("claude"),
                   cfg.max_usd, entry.min_cache_tokens, entry.context_tokens, cfg.max_tokens, cfg.batch,
                   cfg.concurrency, cfg.max_consecutive_failures, cfg.poll_seconds)

    def describe(self) -> dict:
        return {"model": self.model_id, "provider": "anthropic", "batch": self.batch}

    def truncate(self, text: str, max_tokens: int | None, system: str | None) -> tuple[str, bool]:
        """Claude's tokenizer is not at hand: the cut is by characters at a conservative 4 per token."""
        if max_tokens is None:
            max_tokens = self.context_tokens - len(system or "") // CHARS_PER_TOKEN - 1024
        return truncate_chars(text, max_tokens)

    # -- requests and the response cache -------------------------------------------------------------------------

    def _request(self, system: str, text: str, schema: dict | None, max_tokens: int) -> dict:
        req = {
            "model": self.model_id,
            "max_tokens": max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": text}],
        }
        if schema:
            req["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return req

    def _key(self, req: dict) -> str:
        return hashlib.sha256(json.dumps(req, sort_keys=True).encode()).hexdigest()

    def _cached(self, key: str) -> dict | None:
        path = self.cache_dir / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _store(self, key: str, entry: dict) -> None:
        with atomic_path(self.cache_dir / f"{key}.json") as tmp:
            tmp.write_text(json.dumps(entry))

    @staticmethod
    def _entry(msg, latency_s: float | None, batch: bool) -> dict:
        return {"text": "".join(b.text for b in msg.content if b.type == "text"), "usage": msg.usage.model_dump(),
                "latency_s": latency_s, "batch": batch}

    def estimate(self, reqs: list[dict]) -> float:
        """Dollars for the requests not yet cached, from the token-counting endpoint: the first request counted
        exactly, the others scaled by their length; the shared system prefix billed as one cache write and then
        reads only if it reaches the model's minimum cacheable length (else as plain input); output at most
        `max_tokens`."""
        todo = [r for r in reqs if self._cached(self._key(r)) is None]
        if not todo:
            return 0.0
        count = lambda r: self.client.messages.count_tokens(  # noqa: E731
            **{k: v for k, v in r.items() if k != "max_tokens"}).input_tokens
        first = count(todo[0])
        prefix = count({**todo[0], "messages": [{"role": "user", "content": "."}]})
        per_char = max(first - prefix, 1) / max(len(todo[0]["messages"][0]["content"]), 1)
        own = sum(max(len(r["messages"][0]["content"]) * per_char, 1) for r in todo)
        usage = {"input_tokens": own, "output_tokens": sum(r["max_tokens"] for r in todo)}
        if prefix >= self.min_cache_tokens:
            usage |= {"cache_creation_input_tokens": prefix, "cache_read_input_tokens": prefix * (len(todo) - 1)}
        else:
            usage["input_tokens"] += prefix * len(todo)
        return cost(usage, self.prices, self.batch)

    def _run(self, reqs: list[dict]) -> list[dict]:
        estimate = self.estimate(reqs)
        print(f"claude {self.model_id}: {len(reqs)} requests, estimated ${estimate:.4f} for the uncached ones "
              f"(budget ${self.max_usd})")
        if estimate > self.max_usd:
            raise BudgetExceeded(f"estimated ${estimate:.2f} exceeds claude.max_usd=${self.max_usd}; nothing was sent")
        keys = [self._key(r) for r in reqs]
        (self._run_batches if self.batch else self._run_concurrently)(dict(zip(keys, reqs)))
        entries = [self._cached(k) for k in keys]
        if missing := sum(e is None for e in entries):  # a failure is never a result
            raise PipelineError(f"claude: {missing} of {len(reqs)} requests got no answer; "
                                "rerun to send only those")
        return entries

    # -- one request per message, `concurrency` at a time ----------------------------------------------------------

    def _run_concurrently(self, by_key: dict[str, dict]) -> None:
        import anthropic

        todo = {k: r for k, r in by_key.items() if self._cached(k) is None}
        lock, stop = threading.Lock(), threading.Event()
        state = {"spent": 0.0, "in_a_row": 0, "failures": Counter(), "budget": False}
        bar = tqdm(total=len(todo), desc="claude", unit="req", disable=not self.progress or not todo, leave=False)
        start_all = time.perf_counter()

        def one(key: str) -> None:
            if stop.is_set():
                return
            start = time.perf_counter()
            try:
                msg = self.client.messages.create(**todo[key])
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as e:
                with lock:
                    state["failures"][e.status_code if isinstance(e, anthropic.APIStatusError) else type(e).__name__] += 1
                    state["in_a_row"] += 1
                    if state["in_a_row"] >= self.max_consecutive_failures:
                        stop.set()  # an outage: stop sending rather than grind through every row
                return
            entry = self._entry(msg, time.perf_counter() - start, batch=False)
            self._store(key, entry)
            with lock:
                state["in_a_row"] = 0
                state["spent"] += cost(entry["usage"], self.prices)
                if state["spent"] >= self.max_usd:
                    state["budget"] = True
                    stop.set()
                bar.update(1)
                bar.set_postfix_str(f"{bar.n / (time.perf_counter() - start_all):.1f} req/s, ${state['spent']:.4f}")

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(one, todo))
        bar.close()
        left = sum(self._cached(k) is None for k in by_key)
        if state["failures"]:
            why = ", ".join(f"{n}x {code}" for code, n in state["failures"].most_common())
            raise PipelineError(
                f"claude: {left} of {len(by_key)} requests have no answer ({why} after the SDK's retries"
                + (f"; stopped after {self.max_consecutive_failures} failures in a row" if stop.is_set() else "")
                + f"); the {len(by_key) - left} answers are cached in {self.cache_dir}, a rerun sends only the rest")
        if state["budget"] and left:
            raise BudgetExceeded(f"spent ${state['spent']:.4f}, reaching claude.max_usd=${self.max_usd} with "
                                 f"{len(by_key) - left} of {len(by_key)} requests answered; answers so far are "
                                 f"cached in {self.cache_dir} — raise the budget and rerun to continue")

    # -- Message Batches: stored before polling, resumed on rerun ------------------------------------------------

    def _batches(self) -> Path:
        return self.cache_dir / "batches"

    def _run_batches(self, by_key: dict[str, dict]) -> None:
        for path in sorted(self._batches().glob("*.json")):  # batches an interrupted run left: poll them, pay nothing
            pending = read_json(path)
            if set(pending["keys"].values()) & set(by_key):
                self._collect(pending["id"], pending["keys"])
                path.unlink()
        todo = {k: r for k, r in by_key.items() if self._cached(k) is None}  # never sent, errored or expired
        if todo:
            custom = {k[:64]: k for k in todo}
            batch = self.client.messages.batches.create(requests=[{"custom_id": c, "params": todo[k]}
                                                                  for c, k in custom.items()])
            path = self._batches() / f"{batch.id}.json"
            write_json(path, {"id": batch.id, "keys": custom})
            self._collect(batch.id, custom)
            path.unlink()

    def _collect(self, batch_id: str, custom: dict[str, str]) -> None:
        batch = self.client.messages.batches.retrieve(batch_id)
        with tqdm(total=len(custom), desc=f"claude batch {batch_id}", unit="req", disable=not self.progress) as bar:
            while batch.processing_status != "ended":
                time.sleep(self.poll_seconds)
                batch = self.client.messages.batches.retrieve(batch_id)
                c = batch.request_counts
                bar.n = c.succeeded + c.errored + c.canceled + c.expired
                bar.refresh()
        for res in self.client.messages.batches.results(batch_id):
            if res.result.type == "succeeded" and res.custom_id in custom:
                self._store(custom[res.custom_id], self._entry(res.result.message, None, batch=True))

    # -- the backend interface -----------------------------------------------------------------------------------

    def _answers(self, entries: list[dict]) -> list[dict]:
        return [{
            "raw": e["text"],
            "input_tokens": sum(e["usage"].get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens",
                                                                "cache_read_input_tokens")),
            "output_tokens": e["usage"].get("output_tokens"),
            "latency_s": e["latency_s"],
            "usage": e["usage"],
            "cost_usd": cost(e["usage"], self.prices, e["batch"]),
        } for e in entries]

    def classify(self, system, texts, fields, labels, user_prefixes=None):
        schema, budget = answer_schema(fields, labels), self.max_tokens or answer_budget(fields, labels)
        reqs = [self._request(system, (user_prefixes[i] if user_prefixes else "") + t, schema, budget)
                for i, t in enumerate(texts)]
        answers = self._answers(self._run(reqs))
        for a in answers:
            try:
                obj = json.loads(a["raw"])
                a["pred"] = {f: obj.get(f) if obj.get(f) in labels[f] else None for f in fields}
            except (json.JSONDecodeError, AttributeError):
                a["pred"] = {f: None for f in fields}  # not the schema's object: invalid, never guessed
        return answers

    def generate(self, system, texts, user_prefixes=None, max_new_tokens=None):
        reqs = [self._request(system, (user_prefixes[i] if user_prefixes else "") + t, None,
                              self.max_tokens or max_new_tokens) for i, t in enumerate(texts)]
        return self._answers(self._run(reqs))
