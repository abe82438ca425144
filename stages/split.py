"""Stage: split a dataset once, stratified on its first label field, seeded (64/16/20 as in the study).

python -m stages.split --dataset osha
"""

from stages.data import DatasetSpec
from stages.io import load_params, read_jsonl, run, stage_args, write_jsonl
from stages.sampling import SPLITS, stratified_split


def main() -> None:
    args = stage_args("dataset")
    params = load_params()
    spec = DatasetSpec.from_params(params, args.dataset)
    records = read_jsonl(f"data/interim/{spec.name}.jsonl")
    splits = stratified_split(records, spec.labels[0], params["split"], params["split"]["seed"])
    for s in SPLITS:
        write_jsonl(f"data/splits/{spec.name}/{s}.jsonl", splits[s])
    print(", ".join(f"{s}: {len(splits[s])}" for s in SPLITS))


if __name__ == "__main__":
    run(main)
