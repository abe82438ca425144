"""Method type `head`: the base model with a classification head per label field and LoRA on its trunk, one
forward pass per text (methods/head_classifier.py); trained by the `finetune_head` recipe."""
from dataclasses import dataclass

from stages.lib.methods.registry import MethodType, _always
from stages.lib.schema import doc


@dataclass(frozen=True)
class HeadMethod:
    type: str = doc("`head`: the base model with the task's classification-head adapter")
    batch_size: int = doc("rows per forward pass")


SPEC = MethodType(HeadMethod, "stages.lib.methods.head_classifier:build", reads=("models/base",),
                  params=("base_model",), recipe="finetune_head", train="stages.lib.finetuning.head:train",
                  train_stage="finetune_head", learns=_always)
