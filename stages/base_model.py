"""Stage: the local base model (prompted locally and fine-tuned) as a checkpoint in models/base.

python -m stages.base_model
"""
from stages.checkpoints import materialise
from stages.io import atomic_path, load_params, run
from stages.prompting import model_entry


def main() -> None:
    params = load_params()
    entry = model_entry(params, params["base_model"])
    with atomic_path("models/base") as tmp:
        materialise(entry["source"], tmp)
    print(f"models/base <- {entry['source']}")


if __name__ == "__main__":
    run(main)
