"""Method type `cascade`: a cheap method answers, the rows it is unsure of go to a strong one; computed by the
cascade stage from both parts' predictions (stages/lib/escalation.py), applied to new data by
methods/cascade_classifier.py."""
from dataclasses import dataclass
from typing import Literal

from stages.lib.methods.registry import MethodType
from stages.lib.schema import doc


@dataclass(frozen=True)
class CascadeMethod:
    type: str = doc("`cascade`: the cheap method answers, rows under a confidence threshold go to the strong one")
    cheap: str = doc("the method that answers first (a method name)")
    strong: str = doc("the method unsure rows escalate to: a method name, or `auto`, the prompted method (type "
                      "prompt) with the best validation accuracy")
    rule: Literal["match_strong", "budget"] = doc(
        "how the threshold is chosen on validation: `match_strong`, the fewest escalations whose accuracy reaches "
        "the strong method's; `budget`, the best accuracy within `max_cost_per_million`")
    max_cost_per_million: float | None = doc("rule budget: USD per million classifications the cascade may cost")

    def __post_init__(self):
        if self.rule == "budget" and self.max_cost_per_million is None:
            raise ValueError("rule budget needs max_cost_per_million")
        if self.cheap == "auto":
            raise ValueError("cheap must name a method")


SPEC = MethodType(CascadeMethod, "stages.lib.methods.cascade_classifier:build", scored=False,
                  reads_methods=lambda cfg: True)
