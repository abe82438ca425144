"""Method type `encoder_finetuned`: the sentence encoder fine-tuned end to end with a classification head, one per
task, a block of its head per label field (methods/encoder_classifier.py), as Bucher & Martini 2024 fine-tuned
RoBERTa."""
from dataclasses import dataclass

from stages.lib.methods.registry import MethodType, _always
from stages.lib.schema import doc


@dataclass(frozen=True)
class EncoderFinetunedMethod:
    type: str = doc("`encoder_finetuned`: the encoder and a linear head trained end to end, one model per task "
                    "whose head has a block per label field (AutoModelForSequenceClassification)")
    encoder: str = doc("the sentence encoder whose weights it starts from (a key of `encoders`)")
    epochs: int = doc("passes over the training rows (at least; see min_steps), the one with the lowest validation "
                      "loss kept")
    min_steps: int = doc("epochs raised until training takes at least this many optimizer steps (0: no floor)")
    learning_rate: float = doc("AdamW's peak learning rate (linear decay after a 10% warm-up)")
    batch_size: int = doc("training rows per step (predictions: twice as many)")
    max_length: int = doc("tokens per text, in training and prediction alike")
    seeds: list[int] = doc("training seeds: the pipeline's run trains with the first; `seed_spread` with each")

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} must be distinct and not empty")
        if self.epochs < 1 or self.learning_rate <= 0 or self.min_steps < 0:
            raise ValueError("epochs must be >= 1, learning_rate > 0 and min_steps >= 0")


SPEC = MethodType(EncoderFinetunedMethod, "stages.lib.methods.encoder_classifier:build",
                  reads=("models/encoders/{encoder}",), params=("encoders.{encoder}",), learns=_always)
