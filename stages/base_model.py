"""Stage: the local base model (prompted locally and fine-tuned) as a checkpoint in models/base.

python -m stages.base_model
"""
from stages.lib import paths
from stages.lib.checkpoints import materialise
from stages.lib.cli import run
from stages.lib.config import load_params
from stages.lib.files import CONTENT_HASH, atomic_path, tree_hash


def main() -> None:
    params = load_params()
    source = params.model_entry(params.base_model).source
    with atomic_path(paths.BASE_MODEL) as tmp:
        materialise(source, tmp)
        # weights, config and tokenizer hashed once, here: checkpoint fingerprints and resume keys read it
        (tmp / CONTENT_HASH).write_text(tree_hash(tmp) + "\n")
    print(f"{paths.BASE_MODEL} <- {source}")


if __name__ == "__main__":
    run(main)
