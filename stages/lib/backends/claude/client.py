"""The SDK's client, with one rate-limit gate shared by every worker."""
from __future__ import annotations

import threading
import time


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
