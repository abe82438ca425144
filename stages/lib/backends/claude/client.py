"""The SDK's client, with one rate-limit gate shared by every worker."""
from __future__ import annotations

import threading
import time

CLOSES = (429, 529)  # rate limited, and overloaded: both mean "everyone, slow down"


def retry_delay(headers, now: float | None = None) -> float | None:
    """Seconds the response asks to wait, as the API states it: `retry-after-ms` first, then `retry-after` as
    seconds or as an HTTP date; None when it says nothing usable."""
    from email.utils import parsedate_to_datetime

    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


class Gate:
    """Shared by every worker: a 429 or 529 closes it for all of them for as long as the response asks (at most
    `max_wait_s`; 1 s when it does not say), so concurrency never turns into a storm of retries. Hooked into the
    HTTP client, so the SDK's own retries wait at it too."""

    def __init__(self, max_wait_s: float):
        self._until, self._lock, self.max_wait_s = 0.0, threading.Lock(), max_wait_s

    def wait(self, *_) -> None:
        while (delay := self._until - time.monotonic()) > 0:
            time.sleep(delay)

    def on_response(self, response) -> None:
        if response.status_code in CLOSES:
            delay = retry_delay(response.headers)
            seconds = min(1.0 if delay is None else delay, self.max_wait_s)
            with self._lock:
                self._until = max(self._until, time.monotonic() + seconds)


def make_client(max_wait_s: float, **kwargs):
    """The SDK's client (its own retries with backoff honouring retry-after), with one Gate for all workers, closed
    at most `max_wait_s` (`claude.max_wait_s`) by one answer; longer asks are cut to it (the SDK's own retries and
    the stage's failure counting take over from there)."""
    import anthropic

    gate = Gate(max_wait_s)
    http = anthropic.DefaultHttpxClient(event_hooks={"request": [gate.wait], "response": [gate.on_response]})
    return anthropic.Anthropic(http_client=http, **kwargs)
