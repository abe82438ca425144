"""The real anthropic SDK against a local server speaking the real wire format."""
import anthropic
import pytest

from stages.claude import BudgetExceeded, ClaudeBackend, cost
from stages.io import PipelineError
from tests.fake_anthropic import FakeAnthropic

PRICES = {"input": 2.0, "output": 10.0, "cache_write": 2.5, "cache_read": 0.1, "batch_discount": 0.5}
LABELS = {"N": ["Cuts", "Fractures"], "P": ["Hand", "Leg"]}
TEXTS = [f"report {i}" for i in range(4)]


@pytest.fixture
def fake():
    f = FakeAnthropic()
    yield f
    f.close()


def backend(fake, tmp_path, **kw):
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=3, timeout=5)
    return ClaudeBackend(client, "claude-sonnet-5-5", PRICES, tmp_path / "cache", kw.pop("max_usd", 10.0),
                         poll_seconds=0.01, progress=False, **kw)


def sent(fake, path="/v1/messages"):
    return [r[2] for r in fake.log if r[1] == path and r[0] == "POST"]


def test_normal_run_structured_output_caching_and_usage(fake, tmp_path):
    out = backend(fake, tmp_path).classify("system text " * 50, TEXTS, ["N", "P"], LABELS)
    assert [o["pred"] for o in out] == [{"N": "Cuts", "P": "Hand"}] * 4
    req = sent(fake)[0]
    assert req["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert req["output_config"]["format"]["schema"]["properties"]["N"]["enum"] == ["Cuts", "Fractures"]
    assert out[0]["usage"]["cache_creation_input_tokens"] == 300 and out[1]["usage"]["cache_read_input_tokens"] == 300
    assert out[0]["cost_usd"] == pytest.approx(cost(out[0]["usage"], PRICES))
    assert out[1]["cost_usd"] < out[0]["cost_usd"]  # cache reads are cheaper than the first write
    assert len(sent(fake, "/v1/messages/count_tokens")) == 2  # the pre-flight estimate


def test_429_with_retry_after_then_500_then_success(fake, tmp_path):
    fake.faults = [(429, {"retry-after": "0"}), (500, {})]
    out = backend(fake, tmp_path).classify("s", TEXTS[:1], ["N"], LABELS)
    assert out[0]["pred"] == {"N": "Cuts"} and len(sent(fake)) == 3


def test_persistent_failure_is_an_error_not_a_label(fake, tmp_path):
    fake.faults = [(529, {})] * 10
    out = backend(fake, tmp_path).classify("s", TEXTS[:1], ["N"], LABELS)
    assert out[0]["pred"] == {"N": None} and "529" in out[0]["error"]


def test_answer_outside_labels_is_invalid(fake, tmp_path):
    fake.answer = lambda req: {"N": "Burns"}
    out = backend(fake, tmp_path).classify("s", TEXTS[:1], ["N"], LABELS)
    assert out[0]["pred"] == {"N": None}


def test_budget_refuses_before_spending_and_stops_when_reached(fake, tmp_path):
    with pytest.raises(BudgetExceeded, match="nothing was sent"):
        backend(fake, tmp_path, max_usd=1e-9).classify("s", TEXTS, ["N"], LABELS)
    assert sent(fake) == []
    b = backend(fake, tmp_path, max_usd=0.0008, max_tokens=10)  # passes the estimate; one response spends it
    with pytest.raises(BudgetExceeded, match="1 of 4 requests"):
        b.classify("s", TEXTS, ["N"], LABELS)
    assert len(sent(fake)) == 1


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


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(PipelineError, match="ANTHROPIC_API_KEY"):
        ClaudeBackend.from_params({"models": {}, "claude": {}}, "sonnet", "t/zero_shot")
