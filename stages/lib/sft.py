"""Fine-tuning: TRL's SFTTrainer with a PEFT LoRA adapter on the base model.

`finetune.quantize_4bit`: QLoRA, the study's recipe (bitsandbytes 4-bit NF4 base, double quantisation, computing
in `finetune.compute_dtype[device]`), on a GPU or on the CPU (bitsandbytes has a CPU backend); otherwise LoRA on an
fp32 base (bf16 autocast on a GPU). `finetune.device` says where it runs, not whether it may be 4-bit.
The data is the study's conversational format — the sample as the user turn, the label (or the JSON object of
labels) as the assistant turn — in TRL's prompt/completion form, so the loss covers the answer tokens only.
A short fixed system turn replaces the chat template's default one (SmolLM2 would add ~30 tokens per sample).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import resource
import time
import warnings
from pathlib import Path

import torch
from transformers import TrainerCallback

from stages.lib.config import Finetune
from stages.lib.errors import PipelineError
from stages.lib.files import content_hash
from stages.lib.quantization import quantization_config
from stages.lib.templates import answer_text
from stages.lib.tokens import truncate_tokens

# TRL 1.16 itself reads the deprecated `model.is_gradient_checkpointing` (trl/models/utils.py); our code uses
# `activation_checkpointing`. Silenced for that one message only, until TRL moves.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def device(cfg: Finetune) -> str:
    wanted = cfg.device
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise PipelineError("params.yaml: finetune.device is cuda but no CUDA device is available")
    return wanted


def training_rows(cfg: Finetune, train: list[dict], val: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """The rows a fine-tuning run learns from and validates on: seeded subsamples of at most
    `max_train_samples` and `max_val_samples` (null: all). The stage and the learning curve both draw them here."""
    rng = random.Random(seed)
    if cfg.max_train_samples and len(train) > cfg.max_train_samples:
        train = rng.sample(train, cfg.max_train_samples)
    if cfg.max_val_samples and len(val) > cfg.max_val_samples:
        val = rng.sample(val, cfg.max_val_samples)
    return train, val


def conversation(record: dict, system: str, tokenizer, max_input_tokens: int) -> tuple[dict, bool]:
    """The study's format; the text is cut to `max_input_tokens` exactly as inference cuts it, so the answer is
    never the part that `max_length` drops."""
    text, cut = truncate_tokens(tokenizer, record["text"], max_input_tokens)
    return {
        "prompt": [{"role": "system", "content": system}, {"role": "user", "content": text}],
        "completion": [{"role": "assistant", "content": answer_text(record["labels"])}],
    }, cut


def input_budget(cfg: Finetune, tokenizer, rows: list[dict]) -> int:
    """`finetune.max_input_tokens`, or by default what `max_length` leaves after the chat template, the system
    turn and the longest answer in the data."""
    if cfg.max_input_tokens is not None:
        return cfg.max_input_tokens
    prompt = conversation({"text": "", "labels": {}}, cfg.system, tokenizer, 1)[0]["prompt"]
    template = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    overhead = len(tokenizer.encode(template, add_special_tokens=False))
    answer = max(len(tokenizer.encode(answer_text(r["labels"]), add_special_tokens=False)) for r in rows)
    return max(cfg.max_length - overhead - answer - 2, 1)  # 2: the end-of-turn tokens after the answer


def lora_config(cfg: Finetune, num_layers: int):
    from peft import LoraConfig

    top = cfg.top_layers
    # LoRA on the top layers only: backpropagation stops at the lowest adapted layer, so training costs
    # roughly forward + backward-through-the-top instead of forward + full backward.
    layers = list(range(num_layers - top, num_layers)) if top else None
    return LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=cfg.target_modules, layers_to_transform=layers, task_type="CAUSAL_LM")


def compute_dtype(cfg: Finetune, dev: str) -> torch.dtype:
    if dev not in cfg.compute_dtype:
        raise PipelineError(f"params.yaml: finetune.compute_dtype has no entry for device {dev!r}")
    return getattr(torch, cfg.compute_dtype[dev])


def precision(cfg: Finetune) -> str:
    """The base model's precision as trained (and therefore as scored)."""
    return "nf4" if cfg.quantize_4bit else "float32"


def load_base(path: str, dev: str, cfg: Finetune):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if cfg.quantize_4bit:
        from peft import prepare_model_for_kbit_training

        dtype = compute_dtype(cfg, dev)
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quantization_config(dtype),
                                                     dtype=dtype, device_map={"": dev})
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=dev == "cuda" and cfg.gradient_checkpointing)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def fingerprint(cfg: Finetune, train: list[dict], val: list[dict], base: str, seed: int) -> str:
    """What a checkpoint must match to be resumed: the recipe, the seed, the data and every file of the base model
    (config, weights, tokenizer), so another seed or another quantisation of the same model starts afresh."""
    recipe = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "checkpoint_dir"}
    h = hashlib.sha256(json.dumps([recipe, seed, train, val], sort_keys=True).encode())
    h.update(content_hash(base).encode())
    return h.hexdigest()[:16]


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


def build_trainer(cfg: Finetune, train: list[dict], val: list[dict], base: str, output_dir: str, seed: int,
                  live_dir: str | None = None):
    """The trainer, with the conversations it trains on: (train_data, val_data, trainer), each datum a
    (conversation, whether its text was truncated) pair."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    dev = device(cfg)
    model, tokenizer = load_base(base, dev, cfg)
    budget = input_budget(cfg, tokenizer, train + val)
    train_data = [conversation(r, cfg.system, tokenizer, budget) for r in train]
    val_data = [conversation(r, cfg.system, tokenizer, budget) for r in val]
    args = SFTConfig(
        output_dir=output_dir,
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size * 2,  # no gradients at evaluation: twice the rows fit
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup_steps,
        max_length=cfg.max_length,
        completion_only_loss=True,
        train_sampling_strategy="group_by_length",  # batches of similar length: little padding
        eval_strategy=cfg.eval_strategy,
        eval_steps=cfg.eval_steps,
        save_strategy=cfg.eval_strategy,
        save_steps=cfg.eval_steps,
        save_total_limit=2,  # the best checkpoint and the last (to resume): nothing older is ever read
        load_best_model_at_end=cfg.eval_strategy != "no",
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=cfg.logging_steps,
        seed=seed,
        data_seed=seed,
        bf16=dev == "cuda" and torch.cuda.is_bf16_supported(),
        use_cpu=dev == "cpu",
        report_to="none",
        dataloader_num_workers=0,
        max_steps=cfg.max_steps or -1,
        activation_checkpointing=dev == "cuda" and cfg.gradient_checkpointing,
    )
    callbacks = [EarlyStoppingCallback(early_stopping_patience=cfg.patience)] if cfg.eval_strategy != "no" else []
    if live_dir:
        from dvclive import Live
        from transformers.integrations import DVCLiveCallback

        callbacks.append(DVCLiveCallback(live=Live(live_dir, report=None, save_dvc_exp=False, dvcyaml=None)))
    class AnswerLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = answer_loss(model, inputs, num_items_in_batch)
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                # the count is summed over all processes and DDP averages gradients: scale back, as Trainer does
                loss = loss * self.accelerator.num_processes
            return (loss, None) if return_outputs else loss

    trainer_class = {"answer_logits": AnswerLossSFTTrainer, "trl": SFTTrainer}[cfg.loss]
    return train_data, val_data, trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([c for c, _ in train_data]),
        eval_dataset=Dataset.from_list([c for c, _ in val_data]),
        processing_class=tokenizer,
        peft_config=lora_config(cfg, model.config.num_hidden_layers),
        callbacks=callbacks,
    )


class LogLastStep(TrainerCallback):
    """A log at the last step, whatever `logging_steps` is: Trainer gathers the loss of the steps not yet logged
    across processes only when it logs, so without it `train_loss` would hold rank 0's share of that tail."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_log = True


class TrainingClock(TrainerCallback):
    """Training seconds across interruptions: each checkpoint records the seconds spent up to it, and a resumed
    run starts its clock there, so the up-front cost of an interrupted-and-resumed run is its whole cost."""
    FILE = "training_seconds.json"

    def __init__(self):
        self.before, self.start, self.first_step = 0.0, time.perf_counter(), 0

    def total(self) -> float:
        return self.before + time.perf_counter() - self.start

    def on_train_begin(self, args, state, control, **kwargs):
        self.start, self.first_step = time.perf_counter(), state.global_step
        if state.global_step:  # resumed: the checkpoint it resumed from says what came before
            done = Path(args.output_dir, f"checkpoint-{state.global_step}", self.FILE)
            self.before = json.loads(done.read_text())["seconds"] if done.exists() else 0.0

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            path = Path(args.output_dir, f"checkpoint-{state.global_step}", self.FILE)
            if path.parent.exists():
                path.write_text(json.dumps({"seconds": self.total()}))


def train(cfg: Finetune, train_rows: list[dict], val_rows: list[dict], base: str, adapter_out: Path,
          checkpoints_root: Path, seed: int, live_dir: str | None = None) -> dict:
    """Fine-tune, resuming from the checkpoints an interrupted run of the same recipe, data and base model left
    under `checkpoints_root/<fingerprint>` (so checkouts and queued experiments share them safely).
    Saves the best adapter to `adapter_out` (from the main process only); returns the training metrics."""
    checkpoints = Path(checkpoints_root) / fingerprint(cfg, train_rows, val_rows, base, seed)
    checkpoints.mkdir(parents=True, exist_ok=True)
    resume = any(checkpoints.glob("checkpoint-*"))
    print(f"checkpoints: {checkpoints}" + (" (resuming)" if resume else ""))

    train_data, _, trainer = build_trainer(cfg, train_rows, val_rows, base, str(checkpoints), seed, live_dir)
    n_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    clock = TrainingClock()
    trainer.add_callback(clock)
    trainer.add_callback(LogLastStep())
    result = trainer.train(resume_from_checkpoint=resume or None)
    seconds = clock.total()
    if trainer.is_world_process_zero():  # one adapter, however many processes trained it
        trainer.model.save_pretrained(adapter_out)
        trainer.processing_class.save_pretrained(adapter_out)
    epochs = trainer.state.epoch or 0
    history = [h for h in trainer.state.log_history if "eval_loss" in h]
    return {
        "train_seconds": seconds,
        "resumed": resume,
        "epochs": epochs,
        "steps": trainer.state.global_step,
        "train_samples": len(train_rows),
        "truncated_rows": sum(cut for _, cut in train_data),
        "max_input_tokens": input_budget(cfg, trainer.processing_class, train_rows + val_rows),  # inference cuts alike
        "world_size": trainer.args.world_size,
        "train_tokens": n_tokens,
        "train_samples_per_s": len(train_rows) * epochs / seconds if seconds else None,
        "train_tokens_per_s": n_tokens * epochs / seconds if seconds else None,
        # Trainer's own mean over the steps this run trained, whatever logging_steps is (none: a finished resume)
        "train_loss": result.training_loss if trainer.state.global_step > clock.first_step else None,
        "train_loss_steps": trainer.state.global_step - clock.first_step,
        "best_eval_loss": trainer.state.best_metric,
        "eval_losses": [h["eval_loss"] for h in history],
        "peak_memory_mb": (torch.cuda.max_memory_allocated() if torch.cuda.is_available()
                           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20,
        "device": device(cfg),
        "base_precision": precision(cfg),
        **({"compute_dtype": cfg.compute_dtype[device(cfg)]} if cfg.quantize_4bit else {}),
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    }
