"""Method type `finetuned`: the base model with the task's generatively fine-tuned adapter, on the same decoder as
local prompting (methods/finetuned.py); trained by the `finetune` recipe."""
from dataclasses import dataclass

from stages.lib.methods.registry import MethodType, Mode, _always
from stages.lib.schema import doc


@dataclass(frozen=True)
class FinetunedMethod:
    type: str = doc("`finetuned`: the base model with the task's adapter; inputs cut exactly as in training")
    mode: Mode = doc("`constrained` or `generate`, as for prompting")
    batch_size: int = doc("rows per forward pass")
    max_new_tokens: int = doc("generate mode: tokens per answer")
    processes: int = doc("data-parallel processes (torchrun), rows sharded and gathered in order")


SPEC = MethodType(FinetunedMethod, "stages.lib.methods.finetuned:build", reads=("models/base",),
                  params=("base_model", "models.${base_model}", "finetune.system", "datasets"), recipe="finetune",
                  train="stages.lib.finetuning.generative:train", train_stage="finetune", learns=_always,
                  sharded=True)
