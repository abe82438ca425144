"""Stage: a sentence encoder of the `encoders` registry as a model folder in models/encoders/<name>, so that the
methods that read it depend on its content.

python -m stages.encoder_model --name minilm
"""
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.encoders import folder, materialise
from stages.lib.files import CONTENT_HASH, atomic_path, tree_hash


def main() -> None:
    args = stage_args("name")
    source = load_params().encoder_entry(args.name).source
    out = folder(args.name)
    with atomic_path(out) as tmp:
        materialise(source, tmp)
        (tmp / CONTENT_HASH).write_text(tree_hash(tmp) + "\n")
    print(f"{out} <- {source}")


if __name__ == "__main__":
    run(main)
