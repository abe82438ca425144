"""The answer-only loss, and the SFT trainer that computes it."""
from __future__ import annotations

import torch
from trl import SFTTrainer


def answer_loss(model, inputs: dict, num_items_in_batch=None):
    """Cross-entropy on the answer tokens, with LM-head logits computed only there (TRL's loss runs the LM head,
    49k x hidden for SmolLM2, at every prompt position; on a small model on a CPU that is most of a step).
    The positions go to the model's own forward as a boolean `logits_to_keep`, so whatever wraps the model (DDP,
    FSDP, DeepSpeed) runs its forward and synchronises gradients as usual."""
    labels = inputs["labels"]
    positions = torch.zeros_like(labels, dtype=torch.bool)
    positions[:, :-1] = labels[:, 1:] != -100  # position j predicts token j + 1
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                   position_ids=inputs.get("position_ids"), logits_to_keep=positions, use_cache=False).logits
    n = num_items_in_batch if num_items_in_batch is not None else positions.sum()
    return (torch.nn.functional.cross_entropy(logits.float(), labels[:, 1:][positions[:, :-1]], reduction="sum")
            / torch.as_tensor(n).clamp(min=1))


class AnswerLossSFTTrainer(SFTTrainer):
    """`finetune.loss: answer_logits`: TRL's trainer with `answer_loss` in place of its full-sequence LM head."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = answer_loss(model, inputs, num_items_in_batch)
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # the count is summed over all processes and DDP averages gradients: scale back, as Trainer does
            loss = loss * self.accelerator.num_processes
        return (loss, None) if return_outputs else loss
