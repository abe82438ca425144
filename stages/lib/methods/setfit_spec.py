"""Method type `setfit`: SetFit (Tunstall et al. 2022): the sentence encoder tuned contrastively on pairs of
training rows (one body per task), then a logistic-regression head on its embeddings, one per label field
(methods/setfit_classifier.py)."""
from dataclasses import dataclass

from stages.lib.methods.registry import MethodType, _always
from stages.lib.schema import doc


@dataclass(frozen=True)
class SetFitMethod:
    type: str = doc("`setfit`: contrastive fine-tuning of the encoder's body on pairs, then its head (SetFit)")
    encoder: str = doc("the sentence encoder it starts from (a key of `encoders`)")
    max_steps: int = doc("contrastive training steps (one body for all of a task's label fields): the cap on pairs is "
                            "this x batch_size")
    batch_size: int = doc("pairs per step")
    body_learning_rate: float = doc("the body's learning rate (SetFit's default 2e-5)")
    max_length: int = doc("tokens per text")
    seeds: list[int] = doc("training seeds: the pipeline's run trains with the first; `seed_spread` with each")

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} must be distinct and not empty")
        if self.max_steps < 1:
            raise ValueError("max_steps must be >= 1")


SPEC = MethodType(SetFitMethod, "stages.lib.methods.setfit_classifier:build", reads=("models/encoders/{encoder}",),
                  params=("encoders.{encoder}",), learns=_always)
