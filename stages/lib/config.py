"""A typed view of params.yaml, checked when a stage starts.

Every knob lives in params.yaml with its value there; these dataclasses only say what each key is. A missing key,
an unknown key or a value of the wrong type stops the stage with one line naming the key (exit status 2), so a typo
never silently falls back to a default and `dvc params diff` sees every setting a result depends on.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from stages.lib.errors import PipelineError

PARAMS = Path("params.yaml")


@dataclass(frozen=True)
class Dataset:
    path: str
    id: str
    text: list[str]    # one or many input columns
    labels: list[str]  # one or many label columns


@dataclass(frozen=True)
class Split:
    train: float
    val: float
    test: float
    seed: int


@dataclass(frozen=True)
class Task:
    dataset: str
    labels: list[str]
    sampling: str                     # balanced | imbalanced
    top_n: int | None = None          # balanced: the N most frequent training classes
    max_per_class: int | None = None  # balanced: cap per class and split
    min_count: int | None = None      # imbalanced: classes with at least this many training rows


@dataclass(frozen=True)
class Prices:  # USD per million tokens
    input: float
    output: float
    cache_write: float
    cache_read: float
    batch_discount: float


@dataclass(frozen=True)
class Model:
    provider: str                        # local | anthropic
    source: str | None = None            # local: pypi:<pkg>/<file>.gguf, hf:<hub id> or random:<pypi source>
    engine: str | None = None            # local: transformers (our decoder) | vllm (GPU serving engine)
    tensor_parallel: int | None = None   # local, vllm: GPUs one model is split across
    id: str | None = None                # anthropic: the API model id
    prices: Prices | None = None         # anthropic
    min_cache_tokens: int | None = None  # anthropic: shortest prefix the API caches (shorter ones silently are not)


@dataclass(frozen=True)
class Finetune:
    device: str
    quantize_4bit: bool
    compute_dtype: dict[str, str]  # QLoRA: the 4-bit base's compute dtype per device: float32, bfloat16, float16
    system: str
    r: int
    alpha: int
    dropout: float
    target_modules: list[str]
    top_layers: int | None
    learning_rate: float
    scheduler: str
    warmup_steps: int
    epochs: float
    batch_size: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    max_length: int
    eval_strategy: str
    eval_steps: int | None
    logging_steps: int
    patience: int
    max_train_samples: int | None
    max_val_samples: int | None
    max_steps: int | None
    max_input_tokens: int | None  # texts are cut to this many tokens in training and inference (null: what
                                  # max_length leaves after the template, system turn and longest answer)
    processes: int                # data-parallel training processes (torchrun); 1 = plain
    loss: str                     # answer_logits (LM head at answer positions only) | trl (TRL's completion loss)
    checkpoint_dir: str | None  # null: the per-user cache directory (survives `dvc exp run --queue`)


@dataclass(frozen=True)
class Claude:
    max_usd: float
    batch: bool
    concurrency: int
    poll_seconds: float
    max_tokens: int | None   # null: sized from the longest allowed answer
    thinking: str            # off (the first of disabled/between_tools the model accepts) | adaptive
    effort: str              # adaptive: output_config.effort (low | medium | high | xhigh | max)
    thinking_tokens: int     # added to max_tokens when the model thinks (thinking tokens count toward it)
    max_retries: int
    timeout_s: float
    max_consecutive_failures: int
    cache_dir: str | None    # null: the per-user cache directory


@dataclass(frozen=True)
class Prompts:
    subject: str


@dataclass(frozen=True)
class TfidfMethod:
    type: str
    C: list[float]
    ngram_max: int


@dataclass(frozen=True)
class PromptMethod:
    type: str
    prompt: str                  # data/prompts/<task>/<prompt>.json
    mode: str                    # constrained | generate
    batch_size: int
    max_new_tokens: int          # generate mode
    max_input_tokens: int | None  # texts are cut to this many tokens (null: what the context leaves)
    knn: int                     # >0: that many nearest training examples before each sample
    processes: int               # local models: data-parallel processes (torchrun), rows sharded
    classes: int | None = None   # mined few-shot: how many mispredicted validation classes get examples
    per_class: int | None = None


@dataclass(frozen=True)
class FinetunedMethod:  # inputs are cut exactly as in training (finetune.max_input_tokens)
    type: str
    mode: str
    batch_size: int
    max_new_tokens: int
    processes: int


METHOD_TYPES = {"tfidf": TfidfMethod, "prompt": PromptMethod, "finetuned": FinetunedMethod}
MODES = ("constrained", "generate")


@dataclass(frozen=True)
class Evaluate:
    bootstrap: int       # resamples for the confidence intervals and paired differences (seeded by `seed`)
    confidence: float    # e.g. 0.95
    reference: str       # the method every other one is compared with, row by row


@dataclass(frozen=True)
class LearningCurve:
    task: str
    sizes: list[int]     # training rows per point; the full-size runs of the pipeline add the last points


@dataclass(frozen=True)
class Costs:
    hourly_price: float


@dataclass(frozen=True)
class Report:
    tasks: list[str]
    methods: list[str]


@dataclass(frozen=True)
class Params:
    seed: int
    datasets: dict[str, Dataset]
    split: Split
    tasks: dict[str, Task]
    base_model: str
    model: str
    models: dict[str, Model]
    finetune: Finetune
    claude: Claude
    prompts: Prompts
    methods: dict[str, TfidfMethod | PromptMethod | FinetunedMethod]
    evaluate: Evaluate
    learning_curve: LearningCurve
    costs: Costs
    report: Report

    def task(self, name: str) -> Task:
        return _known(self.tasks, name, "task")

    def dataset(self, name: str) -> Dataset:
        return _known(self.datasets, name, "dataset")

    def method(self, name: str):
        return _known(self.methods, name, "method")

    def model_entry(self, name: str) -> Model:
        return _known(self.models, name, "model")


def _known(table: dict, name: str, what: str):
    if name not in table:
        raise PipelineError(f"params.yaml: unknown {what} {name!r} (known: {', '.join(table) or 'none'})")
    return table[name]


# -- parsing ------------------------------------------------------------------------------------------------------

def _key(where: str, name) -> str:
    return f"{where}.{name}" if where else str(name)


def _parse(tp, value, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if where.startswith("methods.") and where.count(".") == 1:  # a method: its `type` picks the class
            kind = value.get("type") if isinstance(value, dict) else None
            if kind not in METHOD_TYPES:
                raise PipelineError(f"params.yaml: {where}.type {kind!r} is not one of {', '.join(METHOD_TYPES)}")
            return _parse(METHOD_TYPES[kind], value, where)
        return _parse(options[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise PipelineError(f"params.yaml: {where} must be a mapping, got {value!r}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        if unknown := [k for k in value if k not in fields]:
            raise PipelineError(f"params.yaml: {_key(where, unknown[0])}: unknown key (known: {', '.join(fields)})")
        out = {}
        for name, f in fields.items():
            if name in value:
                out[name] = _parse(hints[name], value[name], _key(where, name))
            elif f.default is dataclasses.MISSING:
                raise PipelineError(f"params.yaml: {_key(where, name)}: missing")
        return tp(**out)
    if origin is dict:
        if not isinstance(value, dict):
            raise PipelineError(f"params.yaml: {where} must be a mapping, got {value!r}")
        return {str(k): _parse(args[1], v, _key(where, k)) for k, v in value.items()}
    if origin is list:
        if isinstance(value, str) and args[0] is str:  # one column may be written without brackets
            value = [value]
        if not isinstance(value, list):
            raise PipelineError(f"params.yaml: {where} must be a list, got {value!r}")
        return [_parse(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is str and value is False and where == "claude.thinking":  # YAML 1.1 (PyYAML) reads a bare `off` as false
        value = "off"
    ok = (isinstance(value, tp) and not (tp is int and isinstance(value, bool))) or \
         (tp is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise PipelineError(f"params.yaml: {where} must be {tp.__name__}, got {value!r}")
    return float(value) if tp is float else value


def _check(p: Params) -> None:
    """Cross-references and allowed values, each named."""
    for name, t in p.tasks.items():
        ds = p.dataset(t.dataset)
        if bad := [f for f in t.labels if f not in ds.labels]:
            raise PipelineError(f"params.yaml: tasks.{name}.labels {bad} are not label fields of datasets.{t.dataset}")
        if t.sampling == "balanced" and (t.top_n is None or len(t.labels) != 1):
            raise PipelineError(f"params.yaml: tasks.{name}: balanced sampling needs top_n and exactly one label")
        if t.sampling == "imbalanced" and t.min_count is None:
            raise PipelineError(f"params.yaml: tasks.{name}: imbalanced sampling needs min_count")
        if t.sampling not in ("balanced", "imbalanced"):
            raise PipelineError(f"params.yaml: tasks.{name}.sampling {t.sampling!r} is not balanced or imbalanced")
    for name, m in p.models.items():
        need = {"local": ["source", "engine", "tensor_parallel"],
                "anthropic": ["id", "prices", "min_cache_tokens"]}.get(m.provider)
        if need is None:
            raise PipelineError(f"params.yaml: models.{name}.provider {m.provider!r} is not local or anthropic")
        if missing := [k for k in need if getattr(m, k) is None]:
            raise PipelineError(f"params.yaml: models.{name}.{missing[0]}: missing")
        if m.provider == "local" and m.engine not in ("transformers", "vllm"):
            raise PipelineError(f"params.yaml: models.{name}.engine {m.engine!r} is not transformers or vllm")
    p.model_entry(p.base_model), p.model_entry(p.model)
    if p.models[p.base_model].provider != "local":
        raise PipelineError(f"params.yaml: base_model {p.base_model!r} must be a local model")
    for name, m in p.methods.items():
        if isinstance(m, (PromptMethod, FinetunedMethod)) and m.mode not in MODES:
            raise PipelineError(f"params.yaml: methods.{name}.mode {m.mode!r} is not one of {', '.join(MODES)}")
    for t in p.report.tasks:
        p.task(t)
    for m in p.report.methods:
        p.method(m)
    p.task(p.learning_curve.task)
    if p.evaluate.reference not in p.report.methods:
        raise PipelineError(f"params.yaml: evaluate.reference {p.evaluate.reference!r} is not in report.methods")
    if not 0 < p.evaluate.confidence < 1:
        raise PipelineError("params.yaml: evaluate.confidence must be between 0 and 1")
    if bad := {d: t for d, t in p.finetune.compute_dtype.items() if t not in ("float32", "bfloat16", "float16")}:
        raise PipelineError(f"params.yaml: finetune.compute_dtype {bad} is not float32, bfloat16 or float16")
    if p.claude.thinking not in ("off", "adaptive"):
        raise PipelineError(f"params.yaml: claude.thinking {p.claude.thinking!r} is not off or adaptive")
    if p.claude.effort not in ("low", "medium", "high", "xhigh", "max"):
        raise PipelineError(f"params.yaml: claude.effort {p.claude.effort!r} is not low, medium, high, xhigh or max")
    if p.finetune.loss not in ("answer_logits", "trl"):
        raise PipelineError(f"params.yaml: finetune.loss {p.finetune.loss!r} is not answer_logits or trl")
    if abs(p.split.train + p.split.val + p.split.test - 1) > 1e-6:
        raise PipelineError("params.yaml: split.train + split.val + split.test must be 1")


def load_params(path: Path | str = PARAMS) -> Params:
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run from the project root)") from None
    except yaml.YAMLError as e:
        raise PipelineError(f"{path}: not valid YAML ({e})") from None
    params = _parse(Params, raw, "")
    _check(params)
    return params
