"""A local HTTP server speaking the Anthropic wire format as of anthropic 2.15 (Models, Messages, token counting,
Message Batches), with scripted faults and a log of every request, for testing the real `anthropic` SDK against it.

It behaves as today's API does where that changed: `GET /v1/models/{id}` describes each model (capabilities,
limits, lifecycle) and answers 404 for an id it does not know, as `POST /v1/messages` does; a model may think
when `thinking` is omitted, and its thinking tokens count toward `max_tokens` and `output_tokens` (an answer that
runs out while thinking has `stop_reason: max_tokens` and no text block); a thinking type the model does not
accept, or `temperature`/`top_p`/`top_k` on a model that rejects them, is a 400.

The model table is a set of test scenarios, keyed by the registry's ids, not a claim about the real models:
sonnet thinks by default but can turn it off, haiku does not think unless asked, opus can only think.
Run it as a process (`python -m tests.fake_anthropic --port 8765`) to point a whole pipeline at it with
ANTHROPIC_BASE_URL."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EFFORTS = ("low", "medium", "high", "xhigh", "max")
THINKING_TOKENS = {"low": 40, "medium": 200, "high": 800, "xhigh": 1600, "max": 3200}  # tokens a thought takes


def model(id, name, thinking=("disabled", "enabled", "adaptive", "between_tools"), efforts=EFFORTS,
          thinks_by_default=None,
          rejects_sampling=True, lifecycle="active", retires_at=None, batch=True, structured=True):
    return {"id": id, "display_name": name, "thinking": set(thinking), "efforts": list(efforts),
            "thinks_by_default": thinks_by_default, "rejects_sampling": rejects_sampling, "lifecycle": lifecycle,
            "retires_at": retires_at, "batch": batch, "structured": structured}


MODELS = {
    m["id"]: m
    for m in [
        model("claude-sonnet-4-6", "Claude Sonnet 4.6", thinks_by_default="medium"),
        model(
            "claude-haiku-4-5",
            "Claude Haiku 4.5",
            thinking=("disabled", "enabled"),
            efforts=(),
            rejects_sampling=False,
        ),
        model(
            "claude-opus-4-6",
            "Claude Opus 4.6",
            thinking=("adaptive",),
            efforts=("medium", "high", "max"),
            thinks_by_default="high",
        ),
        # today's generation: Sonnet 5.5 refuses `disabled` and turns thinking off with `between_tools`; Opus 5.5
        # can only think; Haiku 5.5 thinks by default and can turn it off
        model("claude-sonnet-5-5", "Claude Sonnet 5.5", thinking=("adaptive", "between_tools"),
              thinks_by_default="high"),
        model("claude-haiku-5-5", "Claude Haiku 5.5", thinking=("adaptive", "disabled", "between_tools"),
              efforts=("low", "medium", "high"), thinks_by_default="medium"),
        model("claude-opus-5-5", "Claude Opus 5.5", thinking=("adaptive",), thinks_by_default="medium"),
        model("claude-old-3", "Claude Old 3", lifecycle="retired"),
        model("claude-dusk-4", "Claude Dusk 4", lifecycle="deprecated", retires_at="2027-01-05T00:00:00Z"),
    ]
}


class FakeAnthropic:
    def __init__(self, answer=None, port: int = 0, log_file: str | None = None, gateway: str | None = None):
        self.log: list[tuple[str, str, dict | None, float]] = []  # method, path, body, time.monotonic()
        self.faults: list[tuple[int, dict]] = []  # (status, headers) served before the next real answer
        self.answer = answer or (lambda req: {f: s["enum"][0] if "enum" in s else self.stated for f, s in
                                              req["output_config"]["format"]["schema"]["properties"].items()})
        self.stated = 80  # the confidence the model states where the schema asks for an integer
        self.batches: dict[str, dict] = {}
        self.batch_errors: set[str] = set()  # user texts whose batch item comes back errored (once)
        self.usage = {
            "input_tokens": 20,
            "output_tokens": 8,
            "cache_creation_input_tokens": 300,
            "cache_read_input_tokens": 0,
        }
        self.models = {k: dict(v) for k, v in MODELS.items()}
        self.refuse: set[str] = set()  # user texts the model refuses to answer
        self.long_thoughts: dict[str, int] = {}  # user texts that take this many thinking tokens
        self.log_file = log_file
        # gateway: as a proxy in front of the API may be, checking neither key nor version: "no_capabilities"
        # (LiteLLM's proxy: its Models API describes a model without them) or "no_models" (no Models API: 404)
        self.gateway = gateway
        self.stop_reason: dict[str, str] = {}  # user texts answered with this stop_reason (and no text block)
        self.delay = 0.0  # seconds each answered message takes
        self._cached, self._cache_lock = False, threading.Lock()  # the system prefix is written once, then read
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()

    def record(self, method: str, path: str, body: dict | None) -> None:
        self.log.append((method, path, body, time.monotonic()))
        if self.log_file:
            with open(self.log_file, "a") as f:
                f.write(json.dumps({"method": method, "path": path, "model": (body or {}).get("model")}) + "\n")

    def model_info(self, m: dict) -> dict:
        support = lambda ok: {"supported": bool(ok)}  # noqa: E731
        return {
            "type": "model",
            "id": m["id"],
            "display_name": m["display_name"],
            "created_at": "2026-01-01T00:00:00Z",
            "lifecycle": m["lifecycle"],
            "retires_at": m["retires_at"],
            "deprecated_at": "2026-10-01T00:00:00Z" if m["lifecycle"] != "active" else None,
            "max_input_tokens": 200_000,
            "max_tokens": 64_000,
            "capabilities": {
                "batch": support(m["batch"]),
                "citations": support(True),
                "code_execution": support(False),
                "context_management": {"supported": False},
                "effort": {"supported": bool(m["efforts"]), **{e: support(e in m["efforts"]) for e in EFFORTS}},
                "image_input": support(True),
                "pdf_input": support(True),
                "server_tools": {"supported": False, "code_execution": support(False), "web_search": support(False)},
                "structured_outputs": support(m["structured"]),
                "thinking": {
                    "supported": m["thinking"] != {"disabled"},
                    "types": {
                        t: support(t in m["thinking"]) for t in ("adaptive", "between_tools", "disabled", "enabled")
                    },
                },
            },
        }

    def check(self, req: dict) -> tuple[int, str, str] | None:
        """The 404 or 400 the API gives this request, if any."""
        m = self.models.get(req.get("model"))
        if m is None or m["lifecycle"] == "retired":
            return 404, "not_found_error", f"model: {req.get('model')}"
        kind = (req.get("thinking") or {}).get("type")
        if kind and kind not in m["thinking"]:
            return 400, "invalid_request_error", f"thinking.type {kind!r} is not supported by this model"
        if m["rejects_sampling"] and (bad := [k for k in ("temperature", "top_p", "top_k") if k in req]):
            return 400, "invalid_request_error", f"`{bad[0]}` is deprecated for this model"
        effort = (req.get("output_config") or {}).get("effort")
        if effort and effort not in m["efforts"]:
            return 400, "invalid_request_error", f"effort {effort!r} is not supported by this model"
        return None

    def message(self, req: dict) -> dict:
        m = self.models[req["model"]]
        fmt = req.get("output_config")
        text = json.dumps(self.answer(req)) if fmt and fmt.get("format") else "Fractures"
        usage = dict(self.usage)
        with self._cache_lock:  # the first answered call writes the prefix to the cache; every later one reads it
            first, self._cached = not self._cached, True
        if not first:
            usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"] = (
                usage["cache_creation_input_tokens"],
                0,
            )
        kind = (req.get("thinking") or {}).get("type")
        effort = (fmt or {}).get("effort") or m["thinks_by_default"] or "high"
        thought = (THINKING_TOKENS[effort] if kind == "adaptive" or (kind is None and m["thinks_by_default"])
                   else req["thinking"]["budget_tokens"] // 2 if kind == "enabled" else 0)
        if thought:
            thought = self.long_thoughts.get(req["messages"][0]["content"], thought)
        content, stop, details = [], "end_turn", None
        if thought:
            content.append({"type": "thinking", "thinking": "Let me look at the report.", "signature": "sig"})
        if (forced := self.stop_reason.get(req["messages"][0]["content"])) is not None:
            stop = forced
            usage["output_tokens"] = 0
        elif req["messages"][0]["content"] in self.refuse:
            stop, details = "refusal", {"type": "refusal", "category": "general_harms", "explanation": "scripted"}
            usage["output_tokens"] = thought
        elif thought >= req["max_tokens"]:  # ran out while thinking: no text block
            stop, usage["output_tokens"] = "max_tokens", req["max_tokens"]
        elif thought + usage["output_tokens"] > req["max_tokens"]:  # cut mid-answer
            stop, usage["output_tokens"] = "max_tokens", req["max_tokens"]
            content.append({"type": "text", "text": text[: max(req["max_tokens"] - thought, 1)]})
        else:
            usage["output_tokens"] += thought
            content.append({"type": "text", "text": text})
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": req["model"], "content": content,
                "stop_reason": stop, "stop_sequence": None, "stop_details": details, "usage": usage}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=None, jsonl=False):
                data = ("\n".join(json.dumps(b) for b in body) if jsonl else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("content-type", "application/x-jsonl" if jsonl else "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def refused(self):
                """The API's 401 without a key (x-api-key or, as SDK 2.17 sends it, Authorization: Bearer) and its
                400 without `anthropic-version`; a gateway checks neither."""
                if fake.gateway:
                    return False
                auth = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix(
                    "Bearer ").strip()
                if not auth:
                    self._send(401, {"type": "error", "error": {"type": "authentication_error",
                                                                "message": "x-api-key header is required"}})
                    return True
                if not self.headers.get("anthropic-version"):
                    self._send(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                "message": "anthropic-version header is required"}})
                    return True
                return False

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.record("POST", self.path, body)
                if self.refused():
                    return
                if self.path == "/v1/messages/count_tokens":
                    n = sum(len(b["text"]) for b in body["system"]) // 4 + len(body["messages"][0]["content"]) // 4
                    return self._send(200, {"input_tokens": n})
                for params in [r["params"] for r in body["requests"]] if self.path == "/v1/messages/batches" else (
                        [body] if self.path == "/v1/messages" else []):
                    if error := fake.check(params):
                        status, kind, message = error
                        return self._send(status, {"type": "error", "error": {"type": kind, "message": message}})
                if fake.faults:
                    status, headers = fake.faults.pop(0)
                    return self._send(
                        status,
                        {
                            "type": "error",
                            "error": {
                                "type": "rate_limit_error" if status == 429 else "api_error",
                                "message": "scripted",
                            },
                        },
                        headers,
                    )
                if self.path == "/v1/messages":
                    time.sleep(fake.delay)
                    return self._send(200, fake.message(body))
                if self.path == "/v1/messages/batches":
                    bid = f"msgbatch_{len(fake.batches)}"
                    fake.batches[bid] = {"requests": body["requests"], "polls": 0}
                    return self._send(200, fake.batch_object(bid))
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

            def do_GET(self):
                fake.record("GET", self.path, None)
                if self.refused():
                    return
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts == ["v1", "models"]:  # the list (one page: every model)
                    if fake.gateway == "no_models":
                        return self._send(404, {"type": "error", "error": {"type": "not_found_error",
                                                                           "message": "Not Found"}})
                    data = [fake.model_info(m) for m in fake.models.values()]
                    return self._send(200, {"data": data, "has_more": False, "first_id": data[0]["id"],
                                            "last_id": data[-1]["id"]})
                if parts[:2] == ["v1", "models"]:
                    if (m := fake.models.get(parts[2])) is None or fake.gateway == "no_models":
                        return self._send(404, {"type": "error", "error": {"type": "not_found_error",
                                                                           "message": f"model: {parts[2]}"}})
                    info = fake.model_info(m)
                    if fake.gateway == "no_capabilities":
                        info.pop("capabilities")
                    return self._send(200, info)
                bid = parts[3]
                if parts[-1] == "results":
                    lines = [
                        {"custom_id": r["custom_id"], "result": fake.batch_result(r)}
                        for r in fake.batches[bid]["requests"]
                    ]
                    return self._send(200, lines, jsonl=True)
                fake.batches[bid]["polls"] += 1
                self._send(200, fake.batch_object(bid))

        return Handler

    def batch_result(self, req: dict) -> dict:
        text = req["params"]["messages"][0]["content"]
        if text in self.batch_errors:
            self.batch_errors.discard(text)
            return {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "api_error", "message": "scripted"}},
            }
        return {"type": "succeeded", "message": self.message(req["params"])}

    def batch_object(self, bid):
        b = self.batches[bid]
        ended = b["polls"] >= 2
        n = len(b["requests"])
        return {"id": bid, "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": {"processing": 0 if ended else n, "succeeded": n if ended else 0, "errored": 0,
                                   "canceled": 0, "expired": 0},
                "created_at": "2026-11-25T00:00:00Z", "expires_at": "2026-11-26T00:00:00Z", "ended_at": None,
                "cancel_initiated_at": None, "archived_at": None,
                "results_url": f"{self.url}/v1/messages/batches/{bid}/results" if ended else None}


if __name__ == "__main__":  # a server for a whole pipeline run: ANTHROPIC_BASE_URL=http://127.0.0.1:<port>
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--log", help="append one JSON line per request here")
    args = ap.parse_args()
    fake = FakeAnthropic(port=args.port, log_file=args.log)
    print(f"fake Anthropic API at {fake.url}", flush=True)
    threading.Event().wait()
