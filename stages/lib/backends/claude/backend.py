"""ClaudeBackend: one prompting run against the API — its requests, its single estimate and spend counter,
what is kept of each response, and the `classify`/`generate` calls every backend has."""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from contextlib import contextmanager

from stages.lib.backends.claude.batches import send_batches
from stages.lib.backends.claude.cache import ResponseCache
from stages.lib.backends.claude.capabilities import ModelRefused, describe_model, thinking_settings
from stages.lib.backends.claude.client import make_client
from stages.lib.backends.claude.pool import send_concurrently
from stages.lib.backends.claude.pricing import BudgetExceeded, cost, estimate
from stages.lib.config import Params
from stages.lib.errors import PipelineError
from stages.lib.parsing import stated_confidence, structured_labels
from stages.lib.paths import user_cache
from stages.lib.templates import STATED, answer_budget, answer_schema, with_prefixes
from stages.lib.truncation import CHARS_PER_TOKEN, truncate_chars

# Tokens kept free when a text is cut by characters (Claude's tokenizer is not at hand). Not a knob: a margin for the
# 4-characters-per-token estimate near the context limit; `max_input_tokens` is the knob for long texts.
CONTEXT_MARGIN = 1024
# Stop reasons that end an answer before it is whole: counted, never cached, and the run fails naming them.
CUT_OFF = ("max_tokens", "model_context_window_exceeded")


class ClaudeBackend:
    def __init__(self, client, model_id: str, prices: dict, cache_dir, max_usd: float,
                 min_cache_tokens: int, max_tokens: int | None = None, batch: bool = False, concurrency: int = 8,
                 max_consecutive_failures: int = 5, poll_seconds: float = 30, progress: bool = True,
                 thinking: str = "off", effort: str = "low", thinking_tokens: int = 1024, key: str | None = None,
                 declared=None):
        self.client, self.model_id, self.prices = client, model_id, prices
        self.cache, self.max_usd, self.min_cache_tokens = ResponseCache(cache_dir), max_usd, min_cache_tokens
        self.max_tokens, self.batch, self.concurrency = max_tokens, batch, concurrency
        self.max_consecutive_failures, self.poll_seconds, self.progress = (
            max_consecutive_failures,
            poll_seconds,
            progress,
        )
        self.key = key or model_id
        self.info = describe_model(client, model_id, self.key, declared)  # `declared`: the registry's capabilities
        if batch and not self.info.caps.batch:
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
        client = make_client(max_wait_s=cfg.max_wait_s, max_retries=cfg.max_retries, timeout=cfg.timeout_s)
        return cls(client, entry.id, dataclasses.asdict(entry.prices), cfg.cache_dir or user_cache("claude"),
                   cfg.max_usd, entry.min_cache_tokens, cfg.max_tokens, cfg.batch, cfg.concurrency,
                   cfg.max_consecutive_failures, cfg.poll_seconds, thinking=cfg.thinking, effort=cfg.effort,
                   thinking_tokens=cfg.thinking_tokens, key=name, declared=entry.capabilities)

    def describe(self) -> dict:
        """What was resolved and sent, for the prediction meta."""
        return {"model": self.model_id, "provider": "anthropic", "batch": self.batch,
                "display_name": self.info.display_name, "lifecycle": self.info.lifecycle,
                "thinking": self.thinking, "effort": self.effort, "thinking_tokens": self.thinking_tokens}

    def truncate(self, text: str, max_tokens: int | None, system: str | None) -> tuple[str, bool]:
        """Claude's tokenizer is not at hand: the cut is by characters at a conservative 4 per token."""
        if max_tokens is None:
            context = self.info.caps.max_input_tokens
            max_tokens = context - len(system or "") // CHARS_PER_TOKEN - CONTEXT_MARGIN
        return truncate_chars(text, max_tokens)

    # -- requests and the response cache -------------------------------------------------------------------------

    def request(self, system: str, text: str, schema: dict | None, answer_tokens: int) -> dict:
        """One request. `max_tokens` is the answer's budget plus the thinking allowance, within the model's limit."""
        max_tokens = min(answer_tokens + self.thinking_tokens, self.info.caps.max_tokens)
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

    def keep(self, key: str, msg, max_tokens: int, latency_s: float | None, batch: bool) -> float:
        """Cache a response if it is an answer; a cut-off one is counted, never cached. Returns its cost."""
        usage = msg.usage.model_dump()
        texts = [b.text for b in msg.content if b.type == "text"]
        if msg.stop_reason == "refusal":  # the model's real answer: no label, with its reason
            details = msg.stop_details.model_dump() if getattr(msg, "stop_details", None) else {}
            entry = {"text": "", "refusal": {k: details.get(k) for k in ("category", "explanation")}}
        elif msg.stop_reason == "pause_turn":  # a server-tool loop paused: never sent tools, so never expected
            raise PipelineError(f"claude {self.model_id}: stop_reason pause_turn on a request without tools; "
                                "nothing was kept for it")
        elif msg.stop_reason in CUT_OFF or not texts:
            with self._lock:
                self._cut_off.append((usage.get("output_tokens") or 0, max_tokens, msg.stop_reason))
            return cost(usage, self.prices, batch)
        else:
            entry = {"text": "".join(texts)}
        self.cache.put(key, {**entry, "usage": usage, "latency_s": latency_s, "batch": batch})
        return cost(usage, self.prices, batch)

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

    def estimate(self, reqs: list[dict]) -> float:
        """Dollars for the requests of `reqs` not yet cached (`pricing.estimate`)."""
        todo = [r for r in reqs if self.cache.get(self.cache.key(r)) is None]
        return estimate(self.client, todo, self.prices, self.min_cache_tokens, self.batch)

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
        keys = [self.cache.key(r) for r in reqs]
        entries = [self.cache.get(k) for k in keys]
        if missing := sum(e is None for e in entries):  # a failure is never a result
            raise PipelineError(f"claude: {missing} of {len(reqs)} requests got no answer; "
                                "rerun to send only those")
        return entries

    def _send(self, reqs: list[dict]) -> None:
        self._lock, self._cut_off = threading.Lock(), []
        by_key = {self.cache.key(r): r for r in reqs}
        (send_batches if self.batch else send_concurrently)(self, by_key)
        if window := [c for c in self._cut_off if c[2] == "model_context_window_exceeded"]:
            raise PipelineError(f"claude: {len(window)} answers stopped at the model's context window "
                                "(model_context_window_exceeded); set the method's max_input_tokens lower to cut "
                                "the inputs. They were not kept: a rerun sends only those")
        if self._cut_off:
            used = max(u for u, _, _ in self._cut_off)
            limit = max(m for _, m, _ in self._cut_off)
            fix = ("raise claude.thinking_tokens or set claude.thinking: off" if self.thinks
                   else "raise claude.max_tokens")
            raise PipelineError(f"claude: {len(self._cut_off)} answers ran out of max_tokens"
                                + (" while thinking" if self.thinks else "")
                                + f" (used {used} of {limit}); {fix}. They were not kept: a rerun sends only those")

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
        if not self.info.caps.structured_outputs:
            raise ModelRefused(f"models.{self.key}: {self.model_id} does not support structured outputs; "
                               "use mode: generate")
        schema = answer_schema(fields, labels, stated_confidence=True)
        budget = self.max_tokens or answer_budget(fields, labels, stated_confidence=True)
        reqs = [self.request(system, prefix + t, schema, budget) for prefix, t in with_prefixes(texts, user_prefixes)]
        answers = self._answers(self._run(reqs))
        for a in answers:  # not the schema's object (or a refusal): invalid, never guessed
            a["pred"] = structured_labels(a["raw"], fields, labels)
            if (stated := stated_confidence(a["raw"], STATED)) is not None:
                a["stated_confidence"], a["confidence_kind"] = stated, "stated"
        return answers

    def generate(self, system, texts, user_prefixes=None, max_new_tokens=None):
        reqs = [self.request(system, prefix + t, None, self.max_tokens or max_new_tokens)
                for prefix, t in with_prefixes(texts, user_prefixes)]
        return self._answers(self._run(reqs))
