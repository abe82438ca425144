"""Method type `embedding_lr`: a frozen sentence encoder's embeddings and a logistic regression per label field,
its C chosen on validation (methods/embedding.py). The cheap middle between TF-IDF and a language model."""
from dataclasses import dataclass

from stages.lib.methods.registry import MethodType, _always
from stages.lib.schema import doc


@dataclass(frozen=True)
class EmbeddingLRMethod:
    type: str = doc("`embedding_lr`: frozen sentence embeddings + logistic regression, one per label field")
    encoder: str = doc("the sentence encoder (a key of `encoders`)")
    C: list[float] = doc("the logistic regression's C grid, chosen per field by validation accuracy (ties: the "
                         "smaller)")
    batch_size: int = doc("texts per encoder forward pass")

    def __post_init__(self):
        if not self.C or min(self.C) <= 0:
            raise ValueError(f"C {self.C} must be positive values, at least one")


SPEC = MethodType(EmbeddingLRMethod, "stages.lib.methods.embedding:build", reads=("models/encoders/{encoder}",),
                  params=("seed", "encoders.{encoder}"), learns=_always)
