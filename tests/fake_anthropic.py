"""A local HTTP server speaking the Anthropic wire format (Messages, token counting, Message Batches), with
scripted faults and a log of every request, for testing the real `anthropic` SDK against it."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeAnthropic:
    def __init__(self, answer=None):
        self.log: list[tuple[str, str, dict | None, float]] = []  # method, path, body, time.monotonic()
        self.faults: list[tuple[int, dict]] = []  # (status, headers) served before the next real answer
        self.answer = answer or (lambda req: {f: s["enum"][0] for f, s in
                                              req["output_config"]["format"]["schema"]["properties"].items()})
        self.batches: dict[str, dict] = {}
        self.batch_errors: set[str] = set()  # user texts whose batch item comes back errored (once)
        self.usage = {"input_tokens": 20, "output_tokens": 8, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 0}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()

    def message(self, req: dict) -> dict:
        fmt = req.get("output_config")
        text = json.dumps(self.answer(req)) if fmt else "Fractures"
        usage = dict(self.usage)
        if any(r[1] == "/v1/messages" for r in self.log[:-1]):  # the system prefix is cached after the first call
            usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"] = usage["cache_creation_input_tokens"], 0
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": req["model"],
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": usage}

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

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.log.append(("POST", self.path, body, time.monotonic()))
                if self.path == "/v1/messages/count_tokens":
                    n = sum(len(b["text"]) for b in body["system"]) // 4 + len(body["messages"][0]["content"]) // 4
                    return self._send(200, {"input_tokens": n})
                if fake.faults:
                    status, headers = fake.faults.pop(0)
                    return self._send(status, {"type": "error", "error": {"type": "rate_limit_error" if status == 429
                                                                          else "api_error", "message": "scripted"}}, headers)
                if self.path == "/v1/messages":
                    return self._send(200, fake.message(body))
                if self.path == "/v1/messages/batches":
                    bid = f"msgbatch_{len(fake.batches)}"
                    fake.batches[bid] = {"requests": body["requests"], "polls": 0}
                    return self._send(200, fake.batch_object(bid))
                self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})

            def do_GET(self):
                fake.log.append(("GET", self.path, None, time.monotonic()))
                parts = self.path.strip("/").split("/")
                bid = parts[3]
                if parts[-1] == "results":
                    lines = [{"custom_id": r["custom_id"], "result": fake.batch_result(r)} for r in fake.batches[bid]["requests"]]
                    return self._send(200, lines, jsonl=True)
                fake.batches[bid]["polls"] += 1
                self._send(200, fake.batch_object(bid))

        return Handler

    def batch_result(self, req: dict) -> dict:
        text = req["params"]["messages"][0]["content"]
        if text in self.batch_errors:
            self.batch_errors.discard(text)
            return {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": "scripted"}}}
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
