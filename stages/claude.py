"""Claude (Anthropic API) as a prompting backend, with the same `classify`/`generate` calls as `LocalLM`.

- Valid by construction: `classify` asks for structured output, a JSON schema with one enum per label field.
- Cheap by construction: the system turn (instruction, labels, few-shot block) carries `cache_control`, so it is
  written to the prompt cache once and read thereafter; `claude.batch: true` sends the work through the Message
  Batches API (half price) and polls it with a progress bar.
- Never pays twice: every response is kept in `claude.cache_dir` (not a DVC output) under the hash of the request
  that produced it; a repeated or interrupted run sends only what is not there.
- Budget: a token-counted estimate is printed before anything is spent, and refused over `claude.max_usd`; a run
  whose actual spend reaches it stops, its responses kept.
- Faults: the SDK retries 429/5xx/529/time-outs with backoff honouring `retry-after` (`claude.max_retries`);
  a request that still fails is recorded as an error, never as a label.
The API key is read by the SDK from ANTHROPIC_API_KEY and never written anywhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from tqdm.auto import tqdm

from stages.io import PipelineError, atomic_path


def cost(usage: dict, prices: dict, batch: bool = False) -> float:
    """Dollars for one response from the API's own usage fields; prices are per million tokens."""
    dollars = (usage.get("input_tokens", 0) * prices["input"] + usage.get("output_tokens", 0) * prices["output"]
               + (usage.get("cache_creation_input_tokens") or 0) * prices["cache_write"]
               + (usage.get("cache_read_input_tokens") or 0) * prices["cache_read"]) / 1e6
    return dollars * (1 - prices.get("batch_discount", 0.5)) if batch else dollars


def answer_schema(fields: list[str], labels: dict[str, list[str]]) -> dict:
    return {"type": "object", "properties": {f: {"type": "string", "enum": labels[f]} for f in fields},
            "required": list(fields), "additionalProperties": False}


class BudgetExceeded(PipelineError):
    pass


class ClaudeBackend:
    def __init__(self, client, model_id: str, prices: dict, cache_dir: str | Path, max_usd: float,
                 max_tokens: int = 200, batch: bool = False, poll_seconds: float = 30, progress: bool = True):
        self.client, self.model_id, self.prices = client, model_id, prices
        self.cache_dir, self.max_usd, self.max_tokens = Path(cache_dir), max_usd, max_tokens
        self.batch, self.poll_seconds, self.progress = batch, poll_seconds, progress

    @classmethod
    def from_params(cls, params: dict, name: str, stage: str) -> "ClaudeBackend":
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise PipelineError(f"model {name!r} needs ANTHROPIC_API_KEY in the environment (it is never read from files)")
        import anthropic

        entry, cfg = params["models"][name], params["claude"]
        client = anthropic.Anthropic(max_retries=cfg["max_retries"], timeout=cfg["timeout_s"])
        return cls(client, entry["id"], entry["prices"], cfg["cache_dir"], cfg["max_usd"], cfg["max_tokens"],
                   cfg["batch"], cfg["poll_seconds"])

    def describe(self) -> dict:
        return {"model": self.model_id, "provider": "anthropic", "batch": self.batch}

    # -- requests ------------------------------------------------------------------------------------------------

    def _request(self, system: str, text: str, schema: dict | None, max_tokens: int | None = None) -> dict:
        req = {
            "model": self.model_id,
            "max_tokens": max_tokens or self.max_tokens,
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

    def estimate(self, reqs: list[dict]) -> float:
        """Dollars for the requests not yet cached, from the token-counting endpoint: the first request counted
        exactly, the others scaled by their length; the shared prefix billed as one cache write, then reads;
        output at most `max_tokens`."""
        todo = [r for r in reqs if self._cached(self._key(r)) is None]
        if not todo:
            return 0.0
        count = lambda r: self.client.messages.count_tokens(  # noqa: E731
            **{k: v for k, v in r.items() if k not in ("max_tokens",)}).input_tokens
        first = count(todo[0])
        bare = count({**todo[0], "messages": [{"role": "user", "content": "."}]})
        chars = max(len(todo[0]["messages"][0]["content"]), 1)
        per_char = max(first - bare, 1) / chars
        own = sum(max(len(r["messages"][0]["content"]) * per_char, 1) for r in todo)
        usage = {"input_tokens": own, "output_tokens": len(todo) * todo[0]["max_tokens"],
                 "cache_creation_input_tokens": bare, "cache_read_input_tokens": bare * (len(todo) - 1)}
        return cost(usage, self.prices, self.batch)

    def _run(self, reqs: list[dict]) -> list[dict]:
        estimate = self.estimate(reqs)
        print(f"claude {self.model_id}: {len(reqs)} requests, estimated ${estimate:.4f} for the uncached ones "
              f"(budget ${self.max_usd})")
        if estimate > self.max_usd:
            raise BudgetExceeded(f"estimated ${estimate:.2f} exceeds claude.max_usd=${self.max_usd}; nothing was sent")
        return self._run_batch(reqs) if self.batch else self._run_one_by_one(reqs)

    def _run_one_by_one(self, reqs: list[dict]) -> list[dict]:
        import anthropic

        spent, out = 0.0, []
        for req in tqdm(reqs, desc="claude", unit="request", disable=not self.progress, leave=False):
            key = self._key(req)
            entry = self._cached(key)
            if entry is None:
                if spent >= self.max_usd:
                    raise BudgetExceeded(f"spent ${spent:.4f}, reaching claude.max_usd=${self.max_usd} after "
                                         f"{len(out)} of {len(reqs)} requests; responses so far are cached in "
                                         f"{self.cache_dir} — raise the budget and rerun to continue")
                start = time.perf_counter()
                try:
                    msg = self.client.messages.create(**req)
                except (anthropic.APIStatusError, anthropic.APIConnectionError) as e:
                    out.append({"error": f"{type(e).__name__}: {getattr(e, 'status_code', '')}".strip(),
                                "latency_s": time.perf_counter() - start})
                    continue  # failures are not cached: a rerun tries again
                entry = {"text": "".join(b.text for b in msg.content if b.type == "text"),
                         "usage": msg.usage.model_dump(), "latency_s": time.perf_counter() - start, "batch": False}
                self._store(key, entry)
                spent += cost(entry["usage"], self.prices)
            out.append(entry)
        return out

    def _run_batch(self, reqs: list[dict]) -> list[dict]:
        keys = [self._key(r) for r in reqs]
        todo = {k: r for k, r in zip(keys, reqs) if self._cached(k) is None}
        if todo:
            batch = self.client.messages.batches.create(
                requests=[{"custom_id": k[:64], "params": r} for k, r in todo.items()])
            with tqdm(total=len(todo), desc="claude batch", unit="request", disable=not self.progress) as bar:
                while batch.processing_status != "ended":
                    time.sleep(self.poll_seconds)
                    batch = self.client.messages.batches.retrieve(batch.id)
                    c = batch.request_counts
                    bar.n = c.succeeded + c.errored + c.canceled + c.expired
                    bar.refresh()
            by_id = {k[:64]: k for k in todo}
            for res in self.client.messages.batches.results(batch.id):
                if res.result.type == "succeeded":
                    msg = res.result.message
                    self._store(by_id[res.custom_id], {
                        "text": "".join(b.text for b in msg.content if b.type == "text"),
                        "usage": msg.usage.model_dump(), "latency_s": None, "batch": True})
        return [self._cached(k) or {"error": "batch request did not succeed", "latency_s": None} for k in keys]

    # -- the backend interface -----------------------------------------------------------------------------------

    def _answers(self, entries: list[dict], reqs: list[dict]) -> list[dict]:
        out = []
        for e in entries:
            usage = e.get("usage") or {}
            out.append({
                "raw": e.get("text", ""),
                "input_tokens": sum(usage.get(k) or 0 for k in ("input_tokens", "cache_creation_input_tokens",
                                                               "cache_read_input_tokens")) or None,
                "output_tokens": usage.get("output_tokens"),
                "latency_s": e.get("latency_s"),
                "usage": usage or None,
                "cost_usd": cost(usage, self.prices, e.get("batch", False)) if usage else None,
                **({"error": e["error"]} if "error" in e else {}),
            })
        return out

    def classify(self, system, texts, fields, labels, user_prefixes=None):
        schema = answer_schema(fields, labels)
        reqs = [self._request(system, (user_prefixes[i] if user_prefixes else "") + t, schema) for i, t in enumerate(texts)]
        answers = self._answers(self._run(reqs), reqs)
        for a in answers:
            pred = {f: None for f in fields}
            if not a.get("error"):
                try:
                    obj = json.loads(a["raw"])
                    pred = {f: obj.get(f) if obj.get(f) in labels[f] else None for f in fields}
                except (json.JSONDecodeError, AttributeError):
                    pass  # not the schema's object: invalid, never guessed
            a["pred"] = pred
        return answers

    def generate(self, system, texts, user_prefixes=None, max_new_tokens=None):
        reqs = [self._request(system, (user_prefixes[i] if user_prefixes else "") + t, None, max_new_tokens)
                for i, t in enumerate(texts)]
        return self._answers(self._run(reqs), reqs)
