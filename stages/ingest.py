"""Stage: validate a raw dataset file, normalise its labels, drop unusable rows.

python -m stages.ingest --dataset osha
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.data import ingest, read_table
from stages.lib.files import write_json, write_jsonl


def main() -> None:
    args = stage_args("dataset")
    spec = load_params().dataset(args.dataset)
    records, report = ingest(read_table(spec.path), args.dataset, spec, spec.path)
    write_jsonl(paths.interim(args.dataset), records)
    write_json(paths.label_map(args.dataset), report.label_changes)
    write_json(paths.ingest_metrics(args.dataset), report.as_dict())
    print(f"{spec.path}: kept {report.rows_kept} of {report.rows_read} rows; dropped {dict(report.dropped) or 'none'}")


if __name__ == "__main__":
    run(main)
