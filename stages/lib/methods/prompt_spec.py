"""Method type `prompt`: the prompted model (`params.model`: the local base model or Claude) with a prompt file:
zero-shot, mined few-shot, nearest-neighbour few-shot (methods/prompt_method.py)."""
from dataclasses import dataclass
from typing import Literal

from stages.lib.methods.registry import MethodType, Mode
from stages.lib.schema import doc


@dataclass(frozen=True)
class PromptMethod:
    type: str = doc("`prompt`: the prompted model (`model`) with a prompt file")
    prompt: str = doc("the prompt file, data/prompts/<task>/<prompt>.json")
    mode: Mode = doc("`constrained` (labels by construction) or `generate` (the study's free generation, parsed)")
    batch_size: int = doc("local models: rows per forward pass")
    max_new_tokens: int = doc("generate mode: tokens per answer (JSON answers need ~40)")
    max_input_tokens: int | None = doc("texts cut to this many tokens (null: what the context leaves)")
    knn: int = doc(">0: that many nearest training examples (by `retriever`) before each sample")
    processes: int = doc("local models: data-parallel processes (torchrun), rows sharded and gathered in order")
    max_example_tokens: int | None = doc("nearest-neighbour few-shot: each example's text cut to this many tokens "
                                         "(null: as the sample's own, max_input_tokens)", default=None)
    retriever: Literal["tfidf", "embedding"] = doc(
        "nearest-neighbour few-shot: what similarity is: `tfidf` (TF-IDF cosine) or `embedding` (the cosine of "
        "`encoder`'s sentence embeddings)", default="tfidf")
    encoder: str | None = doc("retriever embedding: the sentence encoder (a key of `encoders`)", default=None)
    mine_from: str | None = doc("mined few-shot: the method whose validation errors are mined (it predicts every "
                                "validation row) and whose prompt the examples are added to", default=None)
    classes: int | None = doc("mined few-shot: the most mispredicted validation classes that get examples",
                              default=None)
    per_class: int | None = doc("mined few-shot: training examples per such class", default=None)

    def __post_init__(self):
        if (self.mine_from is None) != (self.classes is None) or (self.classes is None) != (self.per_class is None):
            raise ValueError("mined few-shot needs mine_from, classes and per_class together")
        if (self.retriever == "embedding") != (self.encoder is not None):
            raise ValueError("retriever embedding needs an encoder, and only it reads one")


SPEC = MethodType(PromptMethod, "stages.lib.methods.prompt_method:build",
                  reads=("data/prompts/{task}/{prompt}.json", "models/base", "models/encoders/{encoder}"),
                  # `models` whole, not models.${model}: an unknown `-S model=x` then reaches our own check
                  params=("model", "base_model", "models", "claude", "encoders.{encoder}"),
                  learns=lambda cfg: cfg.knn > 0, sharded=True)
