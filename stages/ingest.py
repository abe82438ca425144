"""Stage: validate a raw dataset file, normalise its labels, drop unusable rows.

python -m stages.ingest --dataset osha
"""

from stages.data import DatasetSpec, ingest, read_table
from stages.io import load_params, run, stage_args, write_json, write_jsonl


def main() -> None:
    args = stage_args("dataset")
    spec = DatasetSpec.from_params(load_params(), args.dataset)
    records, report = ingest(read_table(spec.path), spec, spec.path)
    write_jsonl(f"data/interim/{spec.name}.jsonl", records)
    write_json(f"data/interim/{spec.name}.labels.json", report.label_changes)
    write_json(f"metrics/ingest/{spec.name}.json", report.as_dict())
    print(f"{spec.path}: kept {report.rows_kept} of {report.rows_read} rows; dropped {dict(report.dropped) or 'none'}")


if __name__ == "__main__":
    run(main)
