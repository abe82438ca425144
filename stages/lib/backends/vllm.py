"""vLLM as the GPU inference engine for a local model (`engine: vllm` in the model registry).

- Labels by construction: structured outputs, `StructuredOutputsParams(choice=...)` for one label field and a JSON
  schema with one enum per field for several (vLLM's names since 0.12; the older `guided_*` ones are gone).
- The shared prompt prefix (system turn, few-shot block) is reused through vLLM's automatic prefix caching.
- The fine-tuned method's adapter is served through a `LoRARequest`, unmerged; tensor parallelism from the registry.
vLLM is an optional install for CUDA machines (`pip install vllm`); nothing here imports it until the engine is
built, so request construction and result mapping are tested without it.
"""
from __future__ import annotations

import json
import time

from stages.lib import counting
from stages.lib.errors import PipelineError
from stages.lib.parsing import structured_labels
from stages.lib.templates import answer_budget, answer_schema, with_prefixes
from stages.lib.truncation import ANSWER_ROOM, truncate_tokens


def messages(system: str | None, texts: list[str], user_prefixes: list[str] | None = None) -> list[list[dict]]:
    """One chat per text, the system turn first so that every chat shares it as a cacheable prefix."""
    head = [{"role": "system", "content": system}] if system is not None else []
    return [head + [{"role": "user", "content": prefix + t}] for prefix, t in with_prefixes(texts, user_prefixes)]


def structured_outputs(fields: list[str], labels: dict[str, list[str]]) -> dict:
    """Keyword arguments of `StructuredOutputsParams`: a choice for one field, a JSON schema for several."""
    if len(fields) == 1:
        return {"choice": list(labels[fields[0]])}
    return {"json": answer_schema(fields, labels)}


def meta_shape(path: str) -> counting.Shape:
    """The model's shape from its config alone: built on the meta device, no weights read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return counting.shape(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path)))


class VLLMBackend:
    def __init__(self, llm, tokenizer, adapter: str | None = None, info: dict | None = None):
        self.llm, self.tokenizer, self.adapter, self.info = llm, tokenizer, adapter, info or {}
        self.shape = None  # set by `load`: the model's shape, for each row's counted work

    @classmethod
    def load(cls, path: str, adapter: str | None, tensor_parallel: int, info: dict) -> VLLMBackend:
        try:
            from vllm import LLM
        except ImportError:
            raise PipelineError("engine vllm: vLLM is not installed (pip install vllm, on a CUDA machine)") from None
        lora = {}
        if adapter:
            with open(f"{adapter}/adapter_config.json") as f:
                lora = {"enable_lora": True, "max_lora_rank": max(8, json.load(f)["r"])}
        llm = LLM(model=path, tensor_parallel_size=tensor_parallel, enable_prefix_caching=True, **lora)
        backend = cls(llm, llm.get_tokenizer(), adapter, info)
        backend.shape = meta_shape(path)
        return backend

    def describe(self) -> dict:
        return {"provider": "local", "engine": "vllm", **self.info}

    def truncate(self, text: str, max_tokens: int | None, system: str | None) -> tuple[str, bool]:
        if max_tokens is None:
            max_tokens = (
                self.llm.llm_engine.model_config.max_model_len - len(self.tokenizer.encode(system or "")) - ANSWER_ROOM
            )
        return truncate_tokens(self.tokenizer, text, max_tokens)

    def _lora(self):
        if not self.adapter:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("finetuned", 1, self.adapter)

    def _run(self, chats: list[list[dict]], max_tokens: int, structured: dict | None) -> list[dict]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(temperature=0.0, max_tokens=max_tokens,
                                structured_outputs=StructuredOutputsParams(**structured) if structured else None)
        start = time.perf_counter()
        outputs = self.llm.chat(chats, params, lora_request=self._lora(), use_tqdm=True)
        per = (time.perf_counter() - start) / max(len(chats), 1)
        # counted as if no prefix were shared (vLLM's automatic prefix caching reuses what it can, unreported)
        return [{"raw": o.outputs[0].text, "input_tokens": len(o.prompt_token_ids),
                 "output_tokens": len(o.outputs[0].token_ids), "latency_s": per,
                 "flops": None if self.shape is None else counting.forward_flops(
                     self.shape, len(o.prompt_token_ids) + len(o.outputs[0].token_ids))} for o in outputs]

    def classify(self, system, texts, fields, labels, user_prefixes=None):
        answers = self._run(messages(system, texts, user_prefixes), answer_budget(fields, labels),
                            structured_outputs(fields, labels))
        for a in answers:
            a["pred"] = structured_labels(a["raw"], fields, labels, as_json=len(fields) > 1)
        return answers

    def generate(self, system, texts, user_prefixes=None, max_new_tokens=None):
        return self._run(messages(system, texts, user_prefixes), max_new_tokens or 10, None)
