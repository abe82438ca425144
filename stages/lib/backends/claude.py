"""Claude (Anthropic API) as a prompting backend, with the same `classify`/`generate` calls as `LocalLM`.

- Shaped by what the API says about the model: `client.models.retrieve(id)` runs once, before anything is sent.
  An unknown or retired id stops the stage; a deprecated one warns. Its limits, its thinking types and effort
  levels decide the request: `claude.thinking: off` sends the first of `disabled`/`between_tools` the model
  accepts, and a model that can only think gets adaptive thinking at its lowest effort, with
  `claude.thinking_tokens` added to `max_tokens` (thinking tokens count toward it). No sampling parameter is
  ever sent (the 4.7+ and 5.x models reject `temperature`, `top_p` and `top_k`).
- Valid by construction: `classify` asks for structured output, a JSON schema with one enum per label field;
  `max_tokens` is sized from the longest allowed answer (output-token rate limits count `max_tokens`).
- A cut-off answer is a failure: `stop_reason: max_tokens`, or no text block, is never cached as an answer and
  fails the stage, naming what to raise. A `refusal` is the model's answer: no label, its reason recorded.
- One budget per run: `planning()` collects every request a stage or a `classify` run will send, and the
  estimate covers all of them before the first goes out; one spend counter spans the run.
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
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from stages.lib.config import Params
from stages.lib.errors import PipelineError
from stages.lib.files import atomic_path, read_json, write_json
from stages.lib.paths import user_cache
from stages.lib.templates import answer_budget, answer_schema
from stages.lib.tokens import CHARS_PER_TOKEN, truncate_chars

# The Message Batches API takes at most this many requests, and this many bytes, in one batch.
BATCH_MAX_REQUESTS = 100_000
BATCH_MAX_BYTES = 256 * 2**20
# Tokens kept free when a text is cut by characters (Claude's tokenizer is not at hand). Not a knob: a margin for the
# 4-characters-per-token estimate near the context limit; `max_input_tokens` is the knob for long texts.
CONTEXT_MARGIN = 1024
EFFORTS = ("low", "medium", "high", "xhigh", "max")  # output_config.effort, cheapest first


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


class ModelRefused(PipelineError):
    """The API does not know the model, or it cannot do what the run asks: nothing was sent."""


def resolve_model(client, model_id: str, key: str):
    """The API's own description of the model (`ModelInfo`): refused, before anything is spent, if unknown or
    retired; a warning if deprecated."""
    import anthropic

    try:
        info = client.models.retrieve(model_id)
    except anthropic.NotFoundError:
        raise ModelRefused(f"models.{key}.id {model_id!r}: the API knows no such model; nothing was sent") from None
    if info.lifecycle == "retired":
        raise ModelRefused(f"models.{key}.id {model_id!r} ({info.display_name}) is retired; nothing was sent")
    if info.lifecycle == "deprecated":
        print(f"warning: models.{key}.id {model_id!r} ({info.display_name}) is deprecated"
              + (f" and retires at {info.retires_at:%Y-%m-%d}" if info.retires_at else ""), file=sys.stderr)
    return info


def thinking_settings(info, thinking: str, effort: str, key: str) -> tuple[dict, str | None, bool]:
    """(the `thinking` object to send, the effort level to send or None, whether the model will think).
    `off` sends the first of `disabled` and `between_tools` that the model accepts; a model that accepts
    neither can only think, and gets adaptive thinking at the lowest effort it accepts."""
    caps = info.capabilities
    types = caps.thinking.types
    efforts = [e for e in EFFORTS if caps.effort.supported and getattr(caps.effort, e, None)
               and getattr(caps.effort, e).supported]
    if thinking == "off":
        for off in ("disabled", "between_tools"):
            if getattr(types, off).supported:
                return {"type": off}, None, False
        if not types.adaptive.supported:
            raise ModelRefused(f"models.{key}: {info.id} accepts neither disabled nor adaptive thinking")
        return {"type": "adaptive"}, (efforts[0] if efforts else None), True
    if not types.adaptive.supported:
        raise ModelRefused(f"models.{key}: {info.id} does not accept adaptive thinking; set claude.thinking: off")
    if efforts and effort not in efforts:
        raise ModelRefused(f"claude.effort {effort!r}: {info.id} accepts {', '.join(efforts)}")
    return {"type": "adaptive"}, (effort if efforts else None), True


class ClaudeBackend:
    def __init__(self, client, model_id: str, prices: dict, cache_dir: str | Path, max_usd: float,
                 min_cache_tokens: int, max_tokens: int | None = None, batch: bool = False, concurrency: int = 8,
                 max_consecutive_failures: int = 5, poll_seconds: float = 30, progress: bool = True,
                 thinking: str = "off", effort: str = "low", thinking_tokens: int = 1024, key: str | None = None):
        self.client, self.model_id, self.prices = client, model_id, prices
        self.cache_dir, self.max_usd, self.min_cache_tokens = Path(cache_dir), max_usd, min_cache_tokens
        self.max_tokens, self.batch, self.concurrency = max_tokens, batch, concurrency
        self.max_consecutive_failures, self.poll_seconds, self.progress = (
            max_consecutive_failures,
            poll_seconds,
            progress,
        )
        self.key = key or model_id
        self.info = resolve_model(client, model_id, self.key)
        caps = self.info.capabilities
        if batch and not caps.batch.supported:
            raise ModelRefused(
                f"models.{self.key}: {model_id} does not support the Batch API; set claude.batch: false"
            )
        self.thinking, self.effort, self.thinks = thinking_settings(self.info, thinking, effort, self.key)
        self.thinking_tokens = thinking_tokens if self.thinks else 0
        if self.thinks and thinking == "off":
            print(f"claude {model_id}: cannot turn thinking off; adaptive thinking at effort {self.effort}, "
                  f"max_tokens = answer + claude.thinking_tokens ({thinking_tokens})", file=sys.stderr)
        self.spent = 0.0       # one spend counter for the whole run, every call included
        self.estimated = False  # planning() has estimated every request of the run
        self._plan: list[dict] | None = None

    @classmethod
    def from_params(cls, params: Params, name: str) -> ClaudeBackend:
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise PipelineError(
                f"model {name!r} needs ANTHROPIC_API_KEY in the environment (it is never read from files)"
            )
        entry, cfg = params.model_entry(name), params.claude
        client = make_client(max_retries=cfg.max_retries, timeout=cfg.timeout_s)
        return cls(client, entry.id, dataclasses.asdict(entry.prices), cfg.cache_dir or user_cache("claude"),
                   cfg.max_usd, entry.min_cache_tokens, cfg.max_tokens, cfg.batch, cfg.concurrency,
                   cfg.max_consecutive_failures, cfg.poll_seconds, thinking=cfg.thinking, effort=cfg.effort,
                   thinking_tokens=cfg.thinking_tokens, key=name)

    def describe(self) -> dict:
        """What was resolved and sent, for the prediction meta."""
        return {"model": self.model_id, "provider": "anthropic", "batch": self.batch,
                "display_name": self.info.display_name, "lifecycle": self.info.lifecycle,
                "thinking": self.thinking, "effort": self.effort, "thinking_tokens": self.thinking_tokens}

    def truncate(self, text: str, max_tokens: int | None, system: str | None) -> tuple[str, bool]:
        """Claude's tokenizer is not at hand: the cut is by characters at a conservative 4 per token."""
        if max_tokens is None:
            context = self.info.max_input_tokens or 200_000
            max_tokens = context - len(system or "") // CHARS_PER_TOKEN - CONTEXT_MARGIN
        return truncate_chars(text, max_tokens)

    # -- requests and the response cache -------------------------------------------------------------------------

    def _request(self, system: str, text: str, schema: dict | None, answer_tokens: int) -> dict:
        """One request. `max_tokens` is the answer's budget plus the thinking allowance, within the model's limit."""
        max_tokens = answer_tokens + self.thinking_tokens
        if self.info.max_tokens:
            max_tokens = min(max_tokens, self.info.max_tokens)
        req = {
            "model": self.model_id,
            "max_tokens": max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": text}],
            "thinking": self.thinking,
        }
        output = {"format": {"type": "json_schema", "schema": schema}} if schema else {}
        if self.effort:
            output["effort"] = self.effort
        if output:
            req["output_config"] = output
        return req

    def _key(self, req: dict) -> str:
        """The cache key: the request without `max_tokens`, which only cuts an answer short and never changes it
        (cut answers are not cached), so a rerun with a larger allowance resends only the answers that ran out."""
        return hashlib.sha256(json.dumps({k: v for k, v in req.items() if k != "max_tokens"},
                                         sort_keys=True).encode()).hexdigest()

    def _cached(self, key: str) -> dict | None:
        path = self.cache_dir / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _store(self, key: str, entry: dict) -> None:
        with atomic_path(self.cache_dir / f"{key}.json") as tmp:
            tmp.write_text(json.dumps(entry))

    def _keep(self, key: str, msg, max_tokens: int, latency_s: float | None, batch: bool) -> float:
        """Cache a response if it is an answer; a cut-off one is counted, never cached. Returns its cost."""
        usage = msg.usage.model_dump()
        texts = [b.text for b in msg.content if b.type == "text"]
        if msg.stop_reason == "refusal":  # the model's real answer: no label, with its reason
            details = msg.stop_details.model_dump() if getattr(msg, "stop_details", None) else {}
            entry = {"text": "", "refusal": {k: details.get(k) for k in ("category", "explanation")}}
        elif msg.stop_reason == "max_tokens" or not texts:
            with self._lock:
                self._cut_off.append((usage.get("output_tokens") or 0, max_tokens))
            return cost(usage, self.prices, batch)
        else:
            entry = {"text": "".join(texts)}
        self._store(key, {**entry, "usage": usage, "latency_s": latency_s, "batch": batch})
        return cost(usage, self.prices, batch)

    def estimate(self, reqs: list[dict]) -> float:
        """Dollars for the requests not yet cached, from the token-counting endpoint: the first request counted
        exactly, the others scaled by their length; the shared system prefix billed as one cache write and then
        reads only if it reaches the model's minimum cacheable length (else as plain input); output at most
        `max_tokens`, which includes the thinking allowance."""
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

    @contextmanager
    def planning(self):
        """Inside, requests are collected and nothing is sent (answers are empty placeholders); on leaving, the
        whole run is estimated against `max_usd` before its first request, and with `claude.batch` it is sent
        as batches of at most BATCH_MAX_REQUESTS (and BATCH_MAX_BYTES). Later calls then send only what is
        not cached yet, under the same spend counter."""
        self._plan = []
        try:
            yield
            reqs, self._plan = self._plan, None
        finally:
            self._plan = None
        self._check_estimate(reqs)
        self.estimated = True
        if self.batch:
            self._send(reqs)

    def _check_estimate(self, reqs: list[dict]) -> None:
        estimate = self.estimate(reqs)
        print(f"claude {self.model_id}: {len(reqs)} requests, estimated ${estimate:.4f} for the uncached ones "
              f"(budget ${self.max_usd}, ${self.spent:.4f} spent in this run)")
        if self.spent + estimate > self.max_usd:
            raise BudgetExceeded(
                f"estimated ${estimate:.2f} exceeds claude.max_usd=${self.max_usd}"
                + (f" (${self.spent:.4f} already spent)" if self.spent else "")
                + "; nothing was sent"
            )

    def _run(self, reqs: list[dict]) -> list[dict]:
        if self._plan is not None:  # planning: collect, send nothing
            self._plan.extend(reqs)
            return [{"text": "", "usage": {}, "latency_s": None, "batch": False} for _ in reqs]
        if not self.estimated:  # a call outside planning() is its own run
            self._check_estimate(reqs)
        self._send(reqs)
        keys = [self._key(r) for r in reqs]
        entries = [self._cached(k) for k in keys]
        if missing := sum(e is None for e in entries):  # a failure is never a result
            raise PipelineError(f"claude: {missing} of {len(reqs)} requests got no answer; "
                                "rerun to send only those")
        return entries

    def _send(self, reqs: list[dict]) -> None:
        self._lock, self._cut_off = threading.Lock(), []
        by_key = {self._key(r): r for r in reqs}
        (self._run_batches if self.batch else self._run_concurrently)(by_key)
        if self._cut_off:
            used = max(u for u, _ in self._cut_off)
            limit = max(m for _, m in self._cut_off)
            fix = ("raise claude.thinking_tokens or set claude.thinking: off" if self.thinks
                   else "raise claude.max_tokens")
            raise PipelineError(f"claude: {len(self._cut_off)} answers ran out of max_tokens"
                                + (" while thinking" if self.thinks else "")
                                + f" (used {used} of {limit}); {fix}. They were not kept: a rerun sends only those")

    # -- one request per message, `concurrency` at a time ----------------------------------------------------------

    def _run_concurrently(self, by_key: dict[str, dict]) -> None:
        import anthropic

        todo = {k: r for k, r in by_key.items() if self._cached(k) is None}
        lock, stop = threading.Lock(), threading.Event()
        state = {"in_a_row": 0, "failures": Counter(), "budget": self.spent >= self.max_usd}
        if state["budget"]:
            stop.set()
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
                    state["failures"][
                        e.status_code if isinstance(e, anthropic.APIStatusError) else type(e).__name__
                    ] += 1
                    state["in_a_row"] += 1
                    if state["in_a_row"] >= self.max_consecutive_failures:
                        stop.set()  # an outage: stop sending rather than grind through every row
                return
            dollars = self._keep(key, msg, todo[key]["max_tokens"], time.perf_counter() - start, batch=False)
            with lock:
                state["in_a_row"] = 0
                self.spent += dollars
                if self.spent >= self.max_usd:
                    state["budget"] = True
                    stop.set()
                bar.update(1)
                bar.set_postfix_str(f"{bar.n / (time.perf_counter() - start_all):.1f} req/s, ${self.spent:.4f}")

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
            raise BudgetExceeded(f"spent ${self.spent:.4f}, reaching claude.max_usd=${self.max_usd} with "
                                 f"{len(by_key) - left} of {len(by_key)} requests answered; answers so far are "
                                 f"cached in {self.cache_dir} — raise the budget and rerun to continue")

    # -- Message Batches: stored before polling, resumed on rerun ------------------------------------------------

    def _batches(self) -> Path:
        return self.cache_dir / "batches"

    def _run_batches(self, by_key: dict[str, dict]) -> None:
        for path in sorted(self._batches().glob("*.json")):  # batches an interrupted run left: poll them, pay nothing
            pending = read_json(path)
            if set(pending["keys"].values()) & set(by_key):
                self._collect(pending["id"], pending["keys"], by_key)
                path.unlink()
        todo = {k: r for k, r in by_key.items() if self._cached(k) is None}  # never sent, errored or expired
        for part in batch_parts([{"custom_id": k[:64], "params": r} for k, r in todo.items()]):
            if self.spent >= self.max_usd:
                raise BudgetExceeded(f"spent ${self.spent:.4f}, reaching claude.max_usd=${self.max_usd}; answers "
                                     f"so far are cached in {self.cache_dir} — raise the budget and rerun")
            custom = {
                item["custom_id"]: k for item, k in zip(part, (self._key(i["params"]) for i in part), strict=True)
            }
            batch = self.client.messages.batches.create(requests=part)
            path = self._batches() / f"{batch.id}.json"
            write_json(path, {"id": batch.id, "keys": custom})
            self._collect(batch.id, custom, by_key)
            path.unlink()

    def _collect(self, batch_id: str, custom: dict[str, str], by_key: dict[str, dict]) -> None:
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
                key = custom[res.custom_id]
                max_tokens = by_key[key]["max_tokens"] if key in by_key else res.result.message.usage.output_tokens
                self.spent += self._keep(key, res.result.message, max_tokens, None, batch=True)

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
            **({"refusal": e["refusal"]} if "refusal" in e else {}),
        } for e in entries]

    def classify(self, system, texts, fields, labels, user_prefixes=None):
        if not self.info.capabilities.structured_outputs.supported:
            raise ModelRefused(f"models.{self.key}: {self.model_id} does not support structured outputs; "
                               "use mode: generate")
        schema, budget = answer_schema(fields, labels), self.max_tokens or answer_budget(fields, labels)
        reqs = [self._request(system, prefix + t, schema, budget) for prefix, t in with_prefixes(texts, user_prefixes)]
        answers = self._answers(self._run(reqs))
        for a in answers:
            try:
                obj = json.loads(a["raw"])
                a["pred"] = {f: obj.get(f) if obj.get(f) in labels[f] else None for f in fields}
            except (json.JSONDecodeError, AttributeError):
                a["pred"] = {f: None for f in fields}  # not the schema's object (or a refusal): invalid, never guessed
        return answers

    def generate(self, system, texts, user_prefixes=None, max_new_tokens=None):
        reqs = [self._request(system, prefix + t, None, self.max_tokens or max_new_tokens)
                for prefix, t in with_prefixes(texts, user_prefixes)]
        return self._answers(self._run(reqs))


def with_prefixes(texts: list[str], user_prefixes: list[str] | None):
    """(prefix, text) pairs: each text with its own user-turn prefix, or none."""
    return zip(user_prefixes or [""] * len(texts), texts, strict=True)


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
