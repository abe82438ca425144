"""The real anthropic SDK against a local server speaking the real wire format."""
import json
import time
from datetime import UTC

import pytest

from stages.lib.backends.claude import batches
from stages.lib.backends.claude.backend import ClaudeBackend
from stages.lib.backends.claude.capabilities import ModelRefused
from stages.lib.backends.claude.client import make_client
from stages.lib.backends.claude.pricing import BudgetExceeded, cost
from stages.lib.errors import PipelineError
from stages.lib.templates import answer_budget, answer_schema
from tests.fake_anthropic import FakeAnthropic

PRICES = {"input": 2.0, "output": 10.0, "cache_write": 2.5, "cache_read": 0.1, "batch_discount": 0.5}
LABELS = {"N": ["Cuts", "Fractures"], "P": ["Hand", "Leg"]}
TEXTS = [f"report {i}" for i in range(4)]


@pytest.fixture
def fake():
    f = FakeAnthropic()
    yield f
    f.close()


def backend(fake, tmp_path, retries=3, model="claude-sonnet-4-6", **kw):
    client = make_client(120.0, api_key="test-key", base_url=fake.url, max_retries=retries, timeout=5)
    kw = {"max_usd": 10.0, "min_cache_tokens": 1, "poll_seconds": 0.01, "progress": False, **kw}
    return ClaudeBackend(client, model, PRICES, tmp_path / "cache", **kw)


def sent(fake, path="/v1/messages"):
    return [r[2] for r in fake.log if r[1] == path and r[0] == "POST"]


def test_normal_run_structured_output_caching_and_usage(fake, tmp_path):
    out = backend(fake, tmp_path).classify("system text " * 50, TEXTS, ["N", "P"], LABELS)
    assert [o["pred"] for o in out] == [{"N": "Cuts", "P": "Hand"}] * 4
    req = sent(fake)[0]
    assert req["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert req["output_config"]["format"]["schema"]["properties"]["N"]["enum"] == ["Cuts", "Fractures"]
    assert req["max_tokens"] == answer_budget(["N", "P"], LABELS, stated_confidence=True) < 200  # the longest answer
    # no token probabilities over the API: the model states a confidence, recorded as such and never as `confidence`
    assert req["output_config"]["format"]["schema"]["properties"]["confidence"]["type"] == "integer"
    assert req["output_config"]["format"]["schema"]["required"] == ["N", "P", "confidence"]
    assert all(o["stated_confidence"] == 0.8 and o["confidence_kind"] == "stated" and "confidence" not in o
               for o in out)
    assert req["thinking"] == {"type": "disabled"} and "effort" not in req["output_config"]
    assert not {"temperature", "top_p", "top_k"} & set(req)  # the model rejects them: never sent
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
    reqs = [backend(fake, tmp_path).request("instruction " * 400, t, None, 20) for t in texts]
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

    monkeypatch.setattr(batches.time, "sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        backend(fake, tmp_path, batch=True).classify("s", TEXTS, ["N"], LABELS)
    assert list((tmp_path / "cache/batches").glob("*.json"))  # the batch id was stored before polling
    monkeypatch.setattr(batches.time, "sleep", real_sleep)
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


# -- today's API: models resolved first, thinking under control, cut-off answers fail, one budget per run ---------

@pytest.mark.parametrize("model, why", [("claude-nonexistent-1", "the API knows no such model"),
                                        ("claude-old-3", "is retired")])
def test_an_unknown_or_retired_model_is_refused_before_any_message(fake, tmp_path, model, why):
    with pytest.raises(ModelRefused, match=f"models.sonnet.id '{model}'.*{why}.*nothing was sent"):
        backend(fake, tmp_path, model=model, key="sonnet")
    assert fake.log[0][:2] == ("GET", f"/v1/models/{model}") and all(r[0] == "GET" for r in fake.log)  # nothing sent


def test_a_deprecated_model_warns_with_its_retirement_date(fake, tmp_path, capsys):
    backend(fake, tmp_path, model="claude-dusk-4").classify("s", TEXTS[:1], ["N"], LABELS)
    assert "deprecated and retires at 2027-01-05" in capsys.readouterr().err


@pytest.mark.parametrize("model, thinking, effort", [
    ("claude-sonnet-4-6", {"type": "disabled"}, None),   # thinks by default, can be turned off
    ("claude-haiku-4-5", {"type": "disabled"}, None),    # no effort levels at all
    ("claude-opus-4-6", {"type": "adaptive"}, "medium"),  # can only think: its lowest effort
    ("claude-sonnet-5-5", {"type": "between_tools"}, None),  # refuses disabled
    ("claude-haiku-5-5", {"type": "disabled"}, None),
    ("claude-opus-5-5", {"type": "adaptive"}, "low"),
])
def test_thinking_off_sends_what_each_model_accepts(fake, tmp_path, model, thinking, effort):
    b = backend(fake, tmp_path, model=model, thinking_tokens=512)
    out = b.classify("s", TEXTS, ["N", "P"], LABELS)
    req = sent(fake)[0]
    assert req["thinking"] == thinking and req["output_config"].get("effort") == effort
    assert req["max_tokens"] == answer_budget(["N", "P"], LABELS, stated_confidence=True) + (512 if effort else 0)
    assert all(o["pred"] == {"N": "Cuts", "P": "Hand"} for o in out)  # every row classified, none invalid
    assert {
        "thinking": thinking,
        "effort": effort,
        "display_name": b.info.display_name,
    }.items() <= b.describe().items()


def test_adaptive_thinking_sends_the_chosen_effort_and_refuses_one_the_model_lacks(fake, tmp_path):
    b = backend(fake, tmp_path, model="claude-opus-4-6", thinking="adaptive", effort="high")
    b.classify("s", TEXTS[:1], ["N"], LABELS)
    assert sent(fake)[0]["thinking"] == {"type": "adaptive"} and sent(fake)[0]["output_config"]["effort"] == "high"
    with pytest.raises(ModelRefused, match="claude.effort 'low': claude-opus-4-6 accepts medium, high, max"):
        backend(fake, tmp_path, model="claude-opus-4-6", thinking="adaptive", effort="low")
    with pytest.raises(ModelRefused, match="does not accept adaptive thinking"):
        backend(fake, tmp_path, model="claude-haiku-4-5", thinking="adaptive")


def test_the_server_rejects_what_todays_api_rejects(fake, tmp_path):
    """The test server is only worth something if it refuses what the API refuses."""
    import anthropic

    client = make_client(120.0, api_key="test-key", base_url=fake.url, max_retries=0, timeout=5)
    base = {"max_tokens": 50, "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(anthropic.BadRequestError, match="thinking.type 'disabled'"):
        client.messages.create(model="claude-opus-4-6", thinking={"type": "disabled"}, **base)
    with pytest.raises(anthropic.BadRequestError, match="temperature"):  # the 2.15 SDK has no such argument left
        client.messages.create(model="claude-sonnet-4-6", extra_body={"temperature": 0}, **base)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="claude-nonexistent-1", **base)
    msg = client.messages.create(model="claude-opus-4-6", **base)  # thinking omitted: it thinks, and runs out
    assert msg.stop_reason == "max_tokens" and [b.type for b in msg.content] == ["thinking"]


def test_answers_cut_off_while_thinking_fail_and_a_larger_allowance_resends_only_them(fake, tmp_path):
    fake.long_thoughts = {TEXTS[1]: 900, TEXTS[3]: 900}  # two rows think far longer than the others (200)
    b = backend(fake, tmp_path, model="claude-opus-4-6", thinking_tokens=300, concurrency=1)
    limit = answer_budget(["N"], LABELS, stated_confidence=True) + 300
    with pytest.raises(PipelineError, match=rf"2 answers ran out of max_tokens while thinking \(used {limit} of "
                                            rf"{limit}\); raise claude.thinking_tokens or set claude.thinking: off"):
        b.classify("s", TEXTS, ["N"], LABELS)
    assert len(sent(fake)) == 4
    out = backend(fake, tmp_path, model="claude-opus-4-6", thinking_tokens=2048).classify("s", TEXTS, ["N"], LABELS)
    again = sorted(r["messages"][0]["content"] for r in sent(fake)[4:])  # 8 in flight: in any order
    assert again == sorted([TEXTS[1], TEXTS[3]])  # only those again
    assert all(o["pred"] == {"N": "Cuts"} for o in out)


def test_a_refusal_is_an_answer_without_a_label_counted_apart(fake, tmp_path):
    from stages.lib.methods.llm import PromptClassifier
    from stages.lib.scoring import score_predictions

    fake.refuse = {TEXTS[2]}
    clf = PromptClassifier({"system": "s", "fields": ["N"], "labels": LABELS, "examples": []},
                           backend(fake, tmp_path), mode="constrained").fit([], [])
    preds = clf.predict([{"id": str(i), "text": t, "labels": {"N": "Cuts"}} for i, t in enumerate(TEXTS)])
    assert preds[2]["pred"] == {"N": None} and preds[2]["refusal"]["category"] == "general_harms"
    assert all("refusal" not in p for i, p in enumerate(preds) if i != 2)
    headline, _, _ = score_predictions(preds, {"N": LABELS["N"]},
                                       {"predict_seconds": 1, "fit_seconds": 0, "train_rows": 0}, 50, 0.95, 0)
    assert headline["refusal_rate"] == 0.25 and headline["invalid_rate"] == 0.25
    assert len(sent(fake)) == 4 and backend(fake, tmp_path).classify("s", TEXTS, ["N"], LABELS)  # cached, as an answer
    assert len(sent(fake)) == 4


def classify_rows(fake, tmp_path, n, **kw):
    from stages.lib.methods.llm import PromptClassifier
    from stages.lib.new_data import classify_file

    clf = PromptClassifier({"system": "s", "fields": ["N"], "labels": LABELS, "examples": []},
                           backend(fake, tmp_path, **kw), mode="constrained").fit([], [])
    rows = [{"row": i, "id": str(i), "text": f"report {i}"} for i in range(n)]
    return classify_file(clf, rows, tmp_path / "out.csv", "zero_shot", ["N"], "key")


def test_classify_estimates_the_whole_file_before_sending_anything(fake, tmp_path):
    with pytest.raises(BudgetExceeded, match="nothing was sent"):
        classify_rows(fake, tmp_path, 300, max_usd=0.005)  # each 64-row chunk fits, the file does not
    assert sent(fake) == [] and len(sent(fake, "/v1/messages/count_tokens")) == 2


def test_classify_stops_at_the_budget_across_chunks(fake, tmp_path):
    fake.usage = {**fake.usage, "input_tokens": 2000}  # each answer costs far more than estimated: $0.004
    with pytest.raises(BudgetExceeded, match="reaching claude.max_usd"):
        classify_rows(fake, tmp_path, 300, max_usd=0.15, concurrency=1)
    assert 37 <= len(sent(fake)) <= 40  # one spend counter for the run, not one budget per chunk


def test_classify_in_batch_mode_sends_one_batch_for_the_file_not_one_per_chunk(fake, tmp_path):
    classify_rows(fake, tmp_path, 150, batch=True)
    assert [len(b["requests"]) for b in fake.batches.values()] == [150] and sent(fake) == []


def test_batches_are_split_at_the_apis_limits(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "BATCH_MAX_REQUESTS", 3)
    out = backend(fake, tmp_path, batch=True).classify("s", [f"r{i}" for i in range(7)], ["N"], LABELS)
    assert len(out) == 7 and [len(b["requests"]) for b in fake.batches.values()] == [3, 3, 1]
    monkeypatch.setattr(batches, "BATCH_MAX_REQUESTS", 100)
    b = backend(fake, tmp_path, batch=True)
    one = len(json.dumps({"custom_id": "k" * 64, "params": b.request("s", "q0", answer_schema(["N"], LABELS, True),
                                                                      answer_budget(["N"], LABELS, True))}))
    monkeypatch.setattr(batches, "BATCH_MAX_BYTES", int(2.5 * one))  # two requests fit, three do not
    b.classify("s", [f"q{i}" for i in range(5)], ["N"], LABELS)
    assert [len(b["requests"]) for b in fake.batches.values()][3:] == [2, 2, 1]


def test_a_model_without_the_batch_api_or_structured_outputs_is_refused(fake, tmp_path):
    fake.models["claude-haiku-4-5"] |= {"batch": False, "structured": False}
    with pytest.raises(ModelRefused, match="does not support the Batch API"):
        backend(fake, tmp_path, model="claude-haiku-4-5", batch=True)
    with pytest.raises(ModelRefused, match="does not support structured outputs"):
        backend(fake, tmp_path, model="claude-haiku-4-5").classify("s", TEXTS, ["N"], LABELS)
    assert sent(fake) == []


def test_the_estimate_counts_the_thinking_allowance_as_output(fake, tmp_path):
    reqs = lambda b: [b.request("s", t, None, 20) for t in TEXTS]  # noqa: E731
    off, think = backend(fake, tmp_path), backend(fake, tmp_path, model="claude-opus-4-6", thinking_tokens=1000)
    assert think.estimate(reqs(think)) == pytest.approx(off.estimate(reqs(off)) + 4 * 1000 * 10.0 / 1e6)


def test_a_stated_confidence_out_of_range_or_missing_is_absent_not_guessed(fake, tmp_path):
    for stated in (150, -1, "high", None):
        fake.stated = stated
        out = backend(fake, tmp_path / str(stated)).classify("s", TEXTS[:1], ["N"], LABELS)[0]
        assert out["pred"] == {"N": "Cuts"} and "stated_confidence" not in out and "confidence_kind" not in out


# -- against the world: a strict server, gateways, today's models, every stop reason, the rate limits as stated --

def test_the_server_is_as_strict_as_the_api_on_keys_versions_and_model_descriptions(fake):
    import urllib.error
    import urllib.request

    import anthropic

    from tests.fake_anthropic import MODELS

    def post(body, headers):
        req = urllib.request.Request(f"{fake.url}/v1/messages", json.dumps(body).encode(),
                                     {"content-type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    for m in MODELS.values():  # every description passes the SDK's own validation, every capability key present
        anthropic.types.ModelInfo.model_validate(fake.model_info(m))
    body = {"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    assert post(body, {})[0] == 401  # no key
    status, text = post(body, {"x-api-key": "k"})
    assert status == 400 and "anthropic-version" in text
    # the SDK's own request passes: it sends the key (as Authorization: Bearer in 2.17) and the version
    client = make_client(120.0, api_key="test-key", base_url=fake.url, max_retries=0, timeout=5)
    assert client.models.retrieve("claude-sonnet-5-5").capabilities.thinking.types.between_tools.supported


GATEWAYS = [("no_capabilities", "describes the model without capabilities"), ("no_models", "has no Models API")]


@pytest.mark.parametrize("gateway, why", GATEWAYS)
def test_a_gateway_without_capabilities_or_a_models_api_stops_in_one_line_naming_what_to_declare(tmp_path, gateway,
                                                                                                 why):
    fake = FakeAnthropic(gateway=gateway)
    try:
        with pytest.raises(ModelRefused, match=f"{why}; declare them as models.claude-sonnet-5-5.capabilities"):
            backend(fake, tmp_path, model="claude-sonnet-5-5")
        assert not sent(fake)
    finally:
        fake.close()


@pytest.mark.parametrize("gateway, why", GATEWAYS)
def test_behind_a_gateway_the_declared_capabilities_shape_the_requests(tmp_path, gateway, why, capsys):
    from stages.lib.config import load_params

    declared = load_params().model_entry("sonnet").capabilities  # the shipped registry's declaration
    fake = FakeAnthropic(gateway=gateway)
    try:
        b = backend(fake, tmp_path, model="claude-sonnet-5-5", declared=declared)
        out = b.classify("s", TEXTS, ["N"], LABELS)
        assert [o["pred"] for o in out] == [{"N": "Cuts"}] * len(TEXTS)  # 0% invalid
        assert sent(fake)[0]["thinking"] == {"type": "between_tools"}  # the strict check of Sonnet 5.5 passed
        assert b.describe()["lifecycle"] == "declared"
        warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and why in warnings[0] and "declared in models.claude-sonnet-5-5.capabilities" in \
            warnings[0]
    finally:
        fake.close()


def test_the_apis_own_description_wins_over_a_declaration(fake, tmp_path):
    from stages.lib.config import Capabilities

    wrong = Capabilities(thinking=["disabled"], effort=[], structured_outputs=True, batch=True,
                         max_input_tokens=1000, max_tokens=10)
    b = backend(fake, tmp_path, model="claude-sonnet-5-5", declared=wrong)
    b.classify("s", TEXTS[:1], ["N"], LABELS)
    assert sent(fake)[0]["thinking"] == {"type": "between_tools"} and b.info.caps.max_tokens == 64_000


def test_an_unknown_model_is_refused_even_with_declared_capabilities(fake, tmp_path):
    from stages.lib.config import load_params

    declared = load_params().model_entry("sonnet").capabilities
    with pytest.raises(ModelRefused, match="knows no such model"):  # the Models API exists: the id is wrong
        backend(fake, tmp_path, model="claude-nope-9", declared=declared)
    assert not sent(fake)


def test_the_longest_rate_limit_pause_is_the_param(fake, tmp_path):
    from stages.lib.backends.claude.client import Gate

    class Response:
        status_code, headers = 429, {"retry-after": "3600"}

    gate = Gate(max_wait_s=0.2)
    gate.on_response(Response())
    start = time.monotonic()
    gate.wait()
    assert 0.1 < time.monotonic() - start < 5  # an hour asked, the param's 0.2 s kept


def test_sonnet_5_5_refuses_disabled_so_thinking_off_sends_between_tools(fake, tmp_path):
    b = backend(fake, tmp_path, model="claude-sonnet-5-5")
    out = b.classify("s", TEXTS[:2], ["N"], LABELS)
    assert all(o["pred"] == {"N": "Cuts"} for o in out) and not b.thinks
    assert sent(fake)[0]["thinking"] == {"type": "between_tools"}


@pytest.mark.parametrize("reason, message", [
    ("model_context_window_exceeded", "stopped at the model's context window"),
    ("pause_turn", "stop_reason pause_turn on a request without tools"),
])
def test_an_answer_that_stopped_short_is_a_failure_never_cached(fake, tmp_path, reason, message):
    fake.stop_reason[TEXTS[1]] = reason
    b = backend(fake, tmp_path, concurrency=1)
    with pytest.raises(PipelineError, match=message):
        b.classify("s", TEXTS, ["N"], LABELS)
    del fake.stop_reason[TEXTS[1]]
    before = len(sent(fake))
    out = b.classify("s", TEXTS, ["N"], LABELS)
    assert len(out) == 4 and len(sent(fake)) - before == (1 if reason != "pause_turn" else len(sent(fake)) - before)


def test_the_rate_limit_is_read_as_the_api_states_it():
    from datetime import datetime
    from email.utils import format_datetime

    from stages.lib.backends.claude.client import retry_delay

    assert retry_delay({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # milliseconds first
    assert retry_delay({"retry-after": "7"}) == 7.0
    when = datetime(2026, 12, 7, 12, 0, 30, tzinfo=UTC)
    assert retry_delay({"retry-after": format_datetime(when, usegmt=True)},
                       now=datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC).timestamp()) == 30.0  # a date
    assert retry_delay({}) is None and retry_delay({"retry-after": "soon"}) is None


def test_529_overloaded_with_retry_after_ms_pauses_every_worker_too(fake, tmp_path):
    fake.faults, fake.delay = [(529, {"retry-after-ms": "1000"})], 0.05  # 24 answers take ~0.3 s at 4 in flight
    out = backend(fake, tmp_path, concurrency=4).classify("s", [f"report {i}" for i in range(24)], ["N"], LABELS)
    assert len(out) == 24
    posts = [r for r in fake.log if r[1] == "/v1/messages"]
    assert not [r for r in posts[1:] if posts[0][3] + 0.1 < r[3] < posts[0][3] + 0.9]


def test_the_batch_size_limit_counts_the_body_as_sent(monkeypatch):
    assert batches.BATCH_MAX_BYTES < 256e6  # "256 MB" read as decimal, with a margin: never over, in either unit
    monkeypatch.setattr(batches, "BATCH_MAX_BYTES", 200)
    items = [{"custom_id": f"k{i}", "params": {"x": "y" * 40}} for i in range(6)]
    parts = list(batches.batch_parts(items))
    for part in parts:  # every part's whole body, envelope included, within the limit
        assert len(json.dumps({"requests": part}, separators=(",", ":")).encode()) <= 200
    assert sum(map(len, parts)) == 6 and len(parts) > 1
