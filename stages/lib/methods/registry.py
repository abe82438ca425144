"""The method registry: what a method `type` is (params.yaml `methods.<name>.type`), and the one place that
resolves it.

Type `t` is the module `stages/lib/methods/t_spec.py`: its params dataclass and `SPEC`, a `MethodType` naming the
function that builds its classifier, what its prediction stage reads besides the task's rows, and, where it trains,
its recipe. Every consumer asks here: the prediction stage (`stages.predict`), `classify`, the learning curve, the
seed spread, the cascade, the report and `stages.lib.pipeline`, which writes dvc.yaml from the specs. A type's
spec module, builder and trainer are imported by name, only when a method of that type is used, so a stage
depends on exactly its own method's code, and adding a method reruns no other method's stages.

Adding a method: a classifier class (the contract in `methods.base`) with a `build` function, a `<type>_spec.py`
beside it (its params dataclass and `SPEC`), a `methods:` entry in params.yaml, then `python -m stages.lib.pipeline`.
"""
from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Literal

from stages.lib.errors import PipelineError

Mode = Literal["constrained", "generate"]  # how a language model answers: constrained to labels, or generated
MODES = typing.get_args(Mode)
SHARDING = "stages.lib.sharding"  # data-parallel processes, for the types that are `sharded`
TRAIN_POINT = "stages.lib.finetuning.rows:train_adapter"  # a trained method's scratch adapter (curve, seeds)


def _always(cfg) -> bool:
    return True


def _never(cfg) -> bool:
    return False


@dataclass(frozen=True)
class MethodType:
    """What the pipeline needs to know about one kind of method."""
    config: type                          # its params: the dataclass `methods.<name>` is read into
    build: str                            # "module:function(params, task, name, adapter=None, training=None)"
    reads: tuple[str, ...] = ()           # its prediction stage's inputs besides the task's rows; {task} and its
                                          # config's fields ({prompt}) are filled in
    params: tuple[str, ...] = ()          # params its prediction stage reads besides `methods.<name>`
    recipe: str | None = None             # trains: the params section of its recipe (a `config.Recipe`)...
    train: str | None = None              # ...the "module:function" that trains it (learning curve, seeds)...
    train_stage: str | None = None        # ...and the stage group that trains the pipeline's adapter per task
    learns: Callable[[object], bool] = _never  # learns from the training rows: a point on the learning curve
    scored: bool = True                   # predicted by `stages.predict` (the cascade is computed from its parts)
    sharded: bool = False                 # can run in `processes` data-parallel processes (torchrun)
    reads_methods: Callable[[object], bool] = _never  # its stage reads other methods' params (the cascade)


def spec_module(kind: str) -> str:
    return f"stages.lib.methods.{kind}_spec"


def known_types() -> list[str]:
    return sorted(p.stem.removesuffix("_spec") for p in Path(__file__).parent.glob("*_spec.py"))


def type_spec(kind: str) -> MethodType:
    if kind not in known_types():
        raise PipelineError(f"unknown method type {kind!r} (known: {', '.join(known_types())})")
    return import_module(spec_module(kind)).SPEC


def method_type(params, name: str) -> MethodType:
    return type_spec(params.method(name).type)


def _resolve(ref: str):
    module, _, function = ref.partition(":")
    return getattr(import_module(module), function)


def build(params, task: str, name: str, adapter=None, training: dict | None = None):
    """Method `name`'s classifier for `task`, as its prediction stage builds it. `adapter` and `training`: a
    trained method's scratch adapter and its training metrics (the learning curve and seed runs train their own)."""
    kwargs = {"adapter": adapter, "training": training} if adapter is not None else {}
    return _resolve(method_type(params, name).build)(params, task, name, **kwargs)


def data_parallel(params, name: str):
    """For a sharded type with `processes` > 1: rerun this stage under torchrun (this call then exits with its
    status) and return how each process gets its rows. None for one process, and for types never sharded (which
    so never import torch for it)."""
    if not method_type(params, name).sharded:
        return None
    sharding = import_module(SHARDING)
    sharding.relaunch(params.method(name).processes)
    return sharding.DataParallel()


def train_adapter(params, name: str, task: str, train: list[dict], val: list[dict], labels: dict, adapter,
                  seed: int | None = None) -> dict:
    """Train method `name`'s recipe for `task` into a scratch `adapter` on these rows, drawn as its training stage
    draws them, under training `seed` (default: the recipe's first); its training metrics."""
    return _resolve(TRAIN_POINT)(params, name, task, train, val, labels, adapter, seed)


def recipe(params, name: str):
    """A trained method's recipe: its params section (a `config.Recipe`)."""
    return getattr(params, method_type(params, name).recipe)


def trainer(params, name: str):
    """(recipe, train function) of a trained method; the function is imported here (torch and transformers)."""
    return recipe(params, name), _resolve(method_type(params, name).train)


def curve_methods(params) -> list[str]:
    """The methods of `report.methods` that learn from training rows: the learning curve's."""
    return [m for m in params.report.methods if method_type(params, m).learns(params.method(m))]


def seeds_key(params, name: str) -> str | None:
    """The params key of method `name`'s training seeds: its recipe's (`finetune.seeds`), or its own
    (`methods.setfit.seeds`) for a method that trains inside its prediction stage; None: it trains nothing seeded."""
    if spec := method_type(params, name).recipe:
        return f"{spec}.seeds"
    return f"methods.{name}.seeds" if hasattr(params.method(name), "seeds") else None


def training_seeds(params, name: str) -> list[int]:
    spec = method_type(params, name).recipe
    return recipe(params, name).seeds if spec else params.method(name).seeds


def seeded_methods(params) -> list[str]:
    """The methods of `report.methods` whose training is seeded (a recipe, or its own `seeds`): the seed spread's."""
    return [m for m in params.report.methods if seeds_key(params, m)]


def unlearned_method(params) -> str | None:
    """The first method of `report.methods` that learns nothing from labelled rows (zero-shot prompting): the
    learning curve's flat reference and the one break-even counts are measured against."""
    for m in params.report.methods:
        cfg = params.method(m)
        if cfg.type == "prompt" and not cfg.knn and cfg.mine_from is None:
            return m
    return None
