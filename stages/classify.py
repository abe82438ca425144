"""Use the winner: classify a new CSV with any method the pipeline built (not a pipeline stage: a command).

python -m stages.classify --task imbalanced --method finetuned --input new.csv --output predictions.csv
python -m stages.classify --task imbalanced --method cascade --min-confidence 0.5 --input new.csv --output out.csv
The input needs the id and text column(s) of the task's dataset; it is checked as `ingest` checks its file. The
output has one row per input row: id, the predicted label(s), the method (a cascade's: which part answered), the
row's confidence, and why a row was not classified (its label cells then stay empty: never a guess); a cascade
sends only the rows under its threshold to the strong method. Interrupted? Rerun it: finished rows are kept.
"""
from pathlib import Path

from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import write_json
from stages.lib.methods.registry import build
from stages.lib.new_data import classify_file, read_inputs, run_key
from stages.lib.predictions import task_data, task_labels


def main() -> None:
    args = stage_args("task", "method", "input", "output",
                      **{"min-confidence": {"type": float, "default": None,
                                            "help": "abstain below this confidence (label empty)"}})
    params = load_params()
    task = params.task(args.task)
    rows = read_inputs(args.input, task.dataset, params.dataset(task.dataset))
    clf = build(params, args.task, args.method)  # as its prediction stage builds it
    data = task_data(args.task, [])
    clf.fit(data["train"], data["val"])  # the same fit as in the pipeline: instant, or an index
    counts = classify_file(clf, rows, Path(args.output), args.method, list(task_labels(args.task)),
                           run_key(params, args.input, args.task, args.method), min_confidence=args.min_confidence)
    # what answered, as the pipeline's prediction meta records it (model, adapter, base precision, thinking...)
    write_json(Path(args.output + ".meta.json"), {"task": args.task, "method": args.method, **counts,
                                                  **clf.describe()})
    print(f"{args.output}: {counts['classified']} rows classified by {args.method}, {counts['refused']} refused, "
          f"{counts['low_confidence']} under the minimum confidence (see the error column); what answered: "
          f"{args.output}.meta.json")


if __name__ == "__main__":
    run(main)
