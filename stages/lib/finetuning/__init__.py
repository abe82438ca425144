"""Fine-tuning the base model with a LoRA adapter (QLoRA on a 4-bit base where `finetune.quantize_4bit`).

- `rows`: which rows a run learns from, and the study's conversational format with its input budget;
- `model`: the device, the base model as loaded for training (4-bit NF4 or fp32) and the LoRA config;
- `fingerprint`: what a checkpoint must match to be resumed;
- `loss`: the answer-only loss and the SFT trainer that uses it;
- `callbacks`: the training clock across interruptions and the last-step log;
- `training`: a Trainer's shared arguments, resume and the metrics every recipe reports;
- `generative`: the study's recipe end to end (TRL's SFTTrainer), returning the training metrics.
"""
