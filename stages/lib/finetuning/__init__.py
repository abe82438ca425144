"""Fine-tuning the base model with a LoRA adapter (QLoRA on a 4-bit base); the README's layout lists the modules."""
