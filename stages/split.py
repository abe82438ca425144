"""Stage: split a dataset once, stratified on its first label field, seeded (64/16/20 as in the study).

python -m stages.split --dataset osha
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import read_jsonl, write_jsonl
from stages.lib.sampling import stratified_split


def main() -> None:
    args = stage_args("dataset")
    params = load_params()
    spec = params.dataset(args.dataset)
    splits = stratified_split(read_jsonl(paths.interim(args.dataset)), spec.labels[0], params.split)
    for s in paths.SPLITS:
        write_jsonl(paths.split(args.dataset, s), splits[s])
    print(", ".join(f"{s}: {len(splits[s])}" for s in paths.SPLITS))


if __name__ == "__main__":
    run(main)
