"""Use the winner: classify a new CSV with any method the pipeline built (not a pipeline stage: a command).

python -m stages.classify --task imbalanced --method finetuned --input new.csv --output predictions.csv
The input needs the id and text column(s) of the task's dataset; it is checked as `ingest` checks its file. The
output has one row per input row: id, the predicted label(s), the method, and why a row was not classified
(its label cells then stay empty: never a guess). Interrupted? Rerun the same command: finished rows are kept.
"""
from pathlib import Path

from stages import baseline, predict_finetuned, predict_finetuned_head, predict_prompted
from stages.lib.cli import run, stage_args
from stages.lib.config import FinetunedMethod, HeadMethod, PromptMethod, load_params
from stages.lib.files import write_json
from stages.lib.new_data import classify_file, read_inputs, run_key
from stages.lib.predictions import task_data, task_labels

BUILDERS = {PromptMethod: predict_prompted, FinetunedMethod: predict_finetuned, HeadMethod: predict_finetuned_head}


def main() -> None:
    args = stage_args("task", "method", "input", "output")
    params = load_params()
    task = params.task(args.task)
    rows = read_inputs(args.input, task.dataset, params.dataset(task.dataset))
    stage = BUILDERS.get(type(params.method(args.method)), baseline)
    clf = stage.build_classifier(params, args.task, args.method)
    data = task_data(args.task, [])
    clf.fit(data["train"], data["val"])  # the same fit as in the pipeline: instant, or an index
    counts = classify_file(clf, rows, Path(args.output), args.method, list(task_labels(args.task)),
                           run_key(params, args.input, args.task, args.method))
    # what answered, as the pipeline's prediction meta records it (model, adapter, base precision, thinking...)
    write_json(Path(args.output + ".meta.json"), {"task": args.task, "method": args.method, **counts,
                                                  **clf.describe()})
    print(f"{args.output}: {counts['classified']} rows classified by {args.method}, {counts['refused']} refused "
          f"(see the error column); what answered: {args.output}.meta.json")


if __name__ == "__main__":
    run(main)
