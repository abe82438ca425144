"""The vLLM engine: everything up to the engine call is tested here (request construction, label schema, adapter
handling, result mapping) with a stand-in for the `vllm` package; the real engine test skips without vLLM."""
import importlib.util
import json
import sys
import types
from dataclasses import dataclass, field

import pytest

from stages.lib.backends import vllm as engine
from stages.lib.methods.llm import PromptClassifier
from stages.lib.parsing import structured_labels
from stages.lib.templates import zero_shot

LABELS = {"N": ["Cuts", "Fractures"], "P": ["Hand", "Leg"]}


@dataclass
class Params:  # records what the backend asked vLLM for
    kwargs: dict = field(default_factory=dict)

    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch):
    mod, sp, lora = types.ModuleType("vllm"), types.ModuleType("vllm.sampling_params"), types.ModuleType("vllm.lora")
    req = types.ModuleType("vllm.lora.request")
    mod.SamplingParams, sp.StructuredOutputsParams = Params, Params
    req.LoRARequest = lambda name, id_, path: ("lora", name, id_, path)
    for name, m in [("vllm", mod), ("vllm.sampling_params", sp), ("vllm.lora", lora), ("vllm.lora.request", req)]:
        monkeypatch.setitem(sys.modules, name, m)
    return mod


class FakeLLM:
    """Answers the first allowed choice, or a JSON object with each field's first enum value."""

    def __init__(self):
        self.calls = []
        self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=2048))

    def chat(self, chats, params, lora_request=None, use_tqdm=True):
        self.calls.append((chats, params, lora_request))
        so = params.kwargs["structured_outputs"]
        if so is None:
            text = "Fractures."
        elif "choice" in so.kwargs:
            text = so.kwargs["choice"][1]
        else:
            text = json.dumps({f: s["enum"][0] for f, s in so.kwargs["json"]["properties"].items()})
        out = types.SimpleNamespace(text=text, token_ids=[1, 2])
        return [types.SimpleNamespace(outputs=[out], prompt_token_ids=[0] * 7) for _ in chats]


def test_request_construction():
    chats = engine.messages("sys", ["a", "b"], user_prefixes=["Examples: x\n", "Examples: y\n"])
    assert chats[0] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "Examples: x\na"}]
    assert engine.structured_outputs(["N"], LABELS) == {"choice": ["Cuts", "Fractures"]}
    schema = engine.structured_outputs(["N", "P"], LABELS)["json"]
    assert schema["properties"]["P"]["enum"] == ["Hand", "Leg"] and schema["required"] == ["N", "P"]


@pytest.mark.parametrize("text, fields, expected", [
    ("Fractures", ["N"], {"N": "Fractures"}),
    ("Burns", ["N"], {"N": None}),
    ('{"N": "Cuts", "P": "Leg"}', ["N", "P"], {"N": "Cuts", "P": "Leg"}),
    ('{"N": "Cuts", "P": "Arm"}', ["N", "P"], {"N": "Cuts", "P": None}),
    ("not json", ["N", "P"], {"N": None, "P": None}),
])
def test_result_mapping_never_guesses(text, fields, expected):
    assert structured_labels(text, fields, LABELS, as_json=len(fields) > 1) == expected


def test_classify_and_adapter_through_the_engine_call(fake_vllm, tiny_lm):
    llm = FakeLLM()
    backend = engine.VLLMBackend(llm, tiny_lm.tokenizer, adapter="models/adapters/t", info={"model": "m"})
    clf = PromptClassifier(zero_shot({"N": LABELS["N"]}, "report"), backend, mode="constrained")
    preds = clf.fit([], []).predict([{"id": "1", "text": "fell", "labels": {"N": "Fractures"}}])
    assert preds[0]["pred"] == {"N": "Fractures"} and preds[0]["input_tokens"] == 7
    chats, params, lora = llm.calls[0]
    assert params.kwargs["temperature"] == 0.0 and params.kwargs["structured_outputs"].kwargs == {
        "choice": LABELS["N"]
    }
    assert lora == ("lora", "finetuned", 1, "models/adapters/t")  # the adapter is served unmerged
    multi = backend.classify("s", ["x"], ["N", "P"], LABELS)
    assert multi[0]["pred"] == {"N": "Cuts", "P": "Hand"}
    assert backend.describe()["engine"] == "vllm"


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                    reason="vLLM is not installed here (it needs a CUDA machine: pip install vllm); the engine call "
                           "itself is tested above against a stand-in")
def test_real_vllm_engine_loads(tiny_model_dir):
    backend = engine.VLLMBackend.load(str(tiny_model_dir), None, 1, {"model": "tiny"})
    got = backend.classify("Classify.", ["fell from a ladder"], ["N"], LABELS)
    assert got[0]["pred"]["N"] in LABELS["N"]
