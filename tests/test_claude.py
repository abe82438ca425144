"""The real anthropic SDK against a local server speaking the real wire format."""
import time

import pytest

from stages.lib.backends import claude
from stages.lib.backends.claude import BudgetExceeded, ClaudeBackend, answer_budget, cost, make_client
from stages.lib.errors import PipelineError
from tests.fake_anthropic import FakeAnthropic

PRICES = {"input": 2.0, "output": 10.0, "cache_write": 2.5, "cache_read": 0.1, "batch_discount": 0.5}
LABELS = {"N": ["Cuts", "Fractures"], "P": ["Hand", "Leg"]}
TEXTS = [f"report {i}" for i in range(4)]


@pytest.fixture
def fake():
    f = FakeAnthropic()
    yield f
    f.close()


def backend(fake, tmp_path, retries=3, **kw):
    client = make_client(api_key="test-key", base_url=fake.url, max_retries=retries, timeout=5)
    kw = {"max_usd": 10.0, "min_cache_tokens": 1, "poll_seconds": 0.01, "progress": False, **kw}
    return ClaudeBackend(client, "claude-sonnet-5-5", PRICES, tmp_path / "cache", **kw)


def sent(fake, path="/v1/messages"):
    return [r[2] for r in fake.log if r[1] == path and r[0] == "POST"]


def test_normal_run_structured_output_caching_and_usage(fake, tmp_path):
    out = backend(fake, tmp_path).classify("system text " * 50, TEXTS, ["N", "P"], LABELS)
    assert [o["pred"] for o in out] == [{"N": "Cuts", "P": "Hand"}] * 4
    req = sent(fake)[0]
    assert req["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert req["output_config"]["format"]["schema"]["properties"]["N"]["enum"] == ["Cuts", "Fractures"]
    assert req["max_tokens"] == answer_budget(["N", "P"], LABELS) < 200  # sized to the longest answer
    assert sum(o["usage"]["cache_creation_input_tokens"] == 300 for o in out) == 1
    assert sum(o["usage"]["cache_read_input_tokens"] == 300 for o in out) == 3
    assert all(o["cost_usd"] == pytest.approx(cost(o["usage"], PRICES)) for o in out)
    assert len(sent(fake, "/v1/messages/count_tokens")) == 2  # the pre-flight estimate


def test_concurrent_answers_keep_the_input_order(fake, tmp_path):
    fake.answer = lambda req: {"N": "Cuts" if int(req["messages"][0]["content"].split()[1]) % 3 else "Fractures"}
    texts = [f"report {i}" for i in range(24)]
    out = backend(fake, tmp_path, concurrency=8).classify("s", texts, ["N"], LABELS)
    assert [o["pred"]["N"] for o in out] == ["Fractures" if i % 3 == 0 else "Cuts" for i in range(24)]
    assert len(sent(fake)) == 24


def test_429_with_retry_after_pauses_every_worker(fake, tmp_path):
    fake.faults = [(429, {"retry-after": "1"})]
    texts = [f"report {i}" for i in range(12)]
    out = backend(fake, tmp_path, concurrency=4).classify("s", texts, ["N"], LABELS)
    assert len(out) == 12
    posts = [r for r in fake.log if r[1] == "/v1/messages"]
    t429 = posts[0][3]  # the first request served is the 429
    # no worker sent anything in the second that retry-after asked for (a little slack for requests in flight)
    assert not [r for r in posts[1:] if t429 + 0.1 < r[3] < t429 + 0.9]
    assert len(posts) == 13


def test_429_then_500_then_success(fake, tmp_path):
    fake.faults = [(429, {"retry-after": "0"}), (500, {})]
    out = backend(fake, tmp_path).classify("s", TEXTS[:1], ["N"], LABELS)
    assert out[0]["pred"] == {"N": "Cuts"} and len(sent(fake)) == 3


def test_a_failed_request_fails_the_stage_and_a_rerun_sends_only_it(fake, tmp_path):
    fake.faults = [(500, {})]
    b = backend(fake, tmp_path, retries=0, concurrency=1)
    with pytest.raises(PipelineError, match=r"1 of 4 requests have no answer \(1x 500 after the SDK's retries\); "
                                            r"the 3 answers are cached"):
        b.classify("s", TEXTS, ["N"], LABELS)
    assert len(sent(fake)) == 4
    out = b.classify("s", TEXTS, ["N"], LABELS)
    assert len(out) == 4 and len(sent(fake)) == 5  # only the failed one again


def test_an_outage_trips_the_circuit_breaker(fake, tmp_path):
    fake.faults = [(529, {})] * 1000
    b = backend(fake, tmp_path, retries=1, concurrency=2, max_consecutive_failures=3)
    with pytest.raises(PipelineError, match=r"40 of 40 requests have no answer \(\d+x 529 .*stopped after 3"):
        b.classify("s", [f"r{i}" for i in range(40)], ["N"], LABELS)
    assert len(sent(fake)) <= 2 * (3 + 2)  # each attempt is 1 try + 1 retry; nothing near 40 requests


def test_answer_outside_labels_is_invalid(fake, tmp_path):
    fake.answer = lambda req: {"N": "Burns"}
    out = backend(fake, tmp_path).classify("s", TEXTS[:1], ["N"], LABELS)
    assert out[0]["pred"] == {"N": None}


def test_budget_refuses_before_spending_and_stops_when_reached(fake, tmp_path):
    with pytest.raises(BudgetExceeded, match="nothing was sent"):
        backend(fake, tmp_path, max_usd=1e-9).classify("s", TEXTS, ["N"], LABELS)
    assert sent(fake) == []
    b = backend(fake, tmp_path, max_usd=0.0008, max_tokens=10, concurrency=1)  # one response spends it
    with pytest.raises(BudgetExceeded, match="1 of 4 requests answered"):
        b.classify("s", TEXTS, ["N"], LABELS)
    assert len(sent(fake)) == 1


def test_estimate_counts_prompt_caching_only_above_the_models_minimum(fake, tmp_path):
    texts = [f"report {i}" for i in range(50)]
    reqs = [backend(fake, tmp_path)._request("instruction " * 400, t, None, 20) for t in texts]
    cached = backend(fake, tmp_path, min_cache_tokens=1024).estimate(reqs)  # prefix ~1,200 tokens: cached
    uncached = backend(fake, tmp_path, min_cache_tokens=4096).estimate(reqs)  # below the minimum: full price
    prefix = (len("instruction " * 400) + 1) // 4
    assert uncached == pytest.approx(cached + (prefix * 50 * 2.0 - prefix * 2.5 - prefix * 49 * 0.1) / 1e6, rel=0.01)


def test_interrupted_run_resumes_without_sending_twice(fake, tmp_path):
    b = backend(fake, tmp_path)
    b.classify("s", TEXTS[:2], ["N"], LABELS)  # "interrupted" after two
    out = b.classify("s", TEXTS, ["N"], LABELS)
    bodies = [r["messages"][0]["content"] for r in sent(fake)]
    assert sorted(bodies) == sorted(TEXTS) and len(out) == 4  # every request sent exactly once


def test_message_batches(fake, tmp_path):
    out = backend(fake, tmp_path, batch=True).classify("s", TEXTS, ["N", "P"], LABELS)
    assert [o["pred"] for o in out] == [{"N": "Cuts", "P": "Hand"}] * 4
    assert len(sent(fake, "/v1/messages/batches")) == 1 and sent(fake) == []
    assert out[0]["cost_usd"] == pytest.approx(cost(out[0]["usage"], PRICES) * 0.5)


def test_a_batch_interrupted_while_polling_is_resumed_not_paid_twice(fake, tmp_path, monkeypatch):
    real_sleep = time.sleep

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(claude.time, "sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        backend(fake, tmp_path, batch=True).classify("s", TEXTS, ["N"], LABELS)
    assert list((tmp_path / "cache/batches").glob("*.json"))  # the batch id was stored before polling
    monkeypatch.setattr(claude.time, "sleep", real_sleep)
    out = backend(fake, tmp_path, batch=True).classify("s", TEXTS, ["N"], LABELS)
    assert len(out) == 4 and len(sent(fake, "/v1/messages/batches")) == 1  # one batch created for the work
    billed = [r["params"]["messages"][0]["content"] for b in fake.batches.values() for r in b["requests"]]
    assert sorted(billed) == sorted(TEXTS)  # each item billed once
    assert not list((tmp_path / "cache/batches").glob("*.json"))


def test_errored_batch_items_fail_the_stage_and_a_rerun_resends_only_them(fake, tmp_path):
    fake.batch_errors = {TEXTS[1]}
    with pytest.raises(PipelineError, match="1 of 4 requests got no answer"):
        backend(fake, tmp_path, batch=True).classify("s", TEXTS, ["N"], LABELS)
    out = backend(fake, tmp_path, batch=True).classify("s", TEXTS, ["N"], LABELS)
    assert len(out) == 4
    assert [len(b["requests"]) for b in fake.batches.values()] == [4, 1]


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(PipelineError, match="ANTHROPIC_API_KEY"):
        ClaudeBackend.from_params(None, "sonnet")


def test_long_inputs_are_cut_before_they_are_estimated_or_sent(fake, tmp_path):
    from stages.lib.methods.llm import PromptClassifier

    clf = PromptClassifier({"system": "s", "fields": ["N"], "labels": LABELS, "examples": []}, backend(fake, tmp_path),
                           mode="constrained", max_input_tokens=10)
    preds = clf.fit([], []).predict([{"id": "1", "text": "word " * 1000, "labels": {"N": "Cuts"}},
                                     {"id": "2", "text": "short", "labels": {"N": "Cuts"}}])
    assert [p["truncated"] for p in preds] == [True, False]
    contents = [r["messages"][0]["content"] for r in sent(fake)]
    assert sorted(map(len, contents)) == [5, 40]  # 10 tokens at 4 characters each
    counted = [r["messages"][0]["content"] for r in sent(fake, "/v1/messages/count_tokens")]
    assert all(len(c) <= 40 for c in counted)  # the estimate counted the cut text
