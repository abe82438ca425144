"""One request per message, `claude.concurrency` in flight: an answer is kept as it arrives, an outage or the
budget stops the sending, and what is still missing fails the run after everything that arrived is cached."""
from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tqdm.auto import tqdm

from stages.lib.backends.claude.pricing import BudgetExceeded
from stages.lib.errors import PipelineError


def send_concurrently(backend, by_key: dict[str, dict]) -> None:
    """Send the requests of `by_key` (cache key → request) that `backend.cache` lacks."""
    import anthropic

    b = backend
    todo = {k: r for k, r in by_key.items() if b.cache.get(k) is None}
    lock, stop = threading.Lock(), threading.Event()
    state = {"in_a_row": 0, "failures": Counter(), "budget": b.spent >= b.max_usd}
    if state["budget"]:
        stop.set()
    bar = tqdm(total=len(todo), desc="claude", unit="req", disable=not b.progress or not todo, leave=False)
    start_all = time.perf_counter()

    def one(key: str) -> None:
        if stop.is_set():
            return
        start = time.perf_counter()
        try:
            msg = b.client.messages.create(**todo[key])
        except (anthropic.APIStatusError, anthropic.APIConnectionError) as e:
            with lock:
                state["failures"][e.status_code if isinstance(e, anthropic.APIStatusError) else type(e).__name__] += 1
                state["in_a_row"] += 1
                if state["in_a_row"] >= b.max_consecutive_failures:
                    stop.set()  # an outage: stop sending rather than grind through every row
            return
        dollars = b.keep(key, msg, todo[key]["max_tokens"], time.perf_counter() - start, batch=False)
        with lock:
            state["in_a_row"] = 0
            b.spent += dollars
            if b.spent >= b.max_usd:
                state["budget"] = True
                stop.set()
            bar.update(1)
            bar.set_postfix_str(f"{bar.n / (time.perf_counter() - start_all):.1f} req/s, ${b.spent:.4f}")

    with ThreadPoolExecutor(max_workers=b.concurrency) as pool:
        list(pool.map(one, todo))
    bar.close()
    left = sum(b.cache.get(k) is None for k in by_key)
    if state["failures"]:
        why = ", ".join(f"{n}x {code}" for code, n in state["failures"].most_common())
        raise PipelineError(
            f"claude: {left} of {len(by_key)} requests have no answer ({why} after the SDK's retries"
            + (f"; stopped after {b.max_consecutive_failures} failures in a row" if stop.is_set() else "")
            + f"); the {len(by_key) - left} answers are cached in {b.cache}, a rerun sends only the rest")
    if state["budget"] and left:
        raise BudgetExceeded(f"spent ${b.spent:.4f}, reaching claude.max_usd=${b.max_usd} with "
                             f"{len(by_key) - left} of {len(by_key)} requests answered; answers so far are "
                             f"cached in {b.cache} — raise the budget and rerun to continue")
