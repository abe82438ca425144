"""Use the winner: classify a new CSV with any method the pipeline built (not a pipeline stage: a command).

python -m stages.classify --task imbalanced --method finetuned --input new.csv --output predictions.csv
python -m stages.classify --task imbalanced --method cascade --min-confidence 0.5 --input new.csv --output out.csv
The input needs the id and text column(s) of the task's dataset; it is checked as `ingest` checks its file. The
output has one row per input row: id, the predicted label(s), the method (a cascade's: which part answered), the
row's confidence, and why a row was not classified (its label cells then stay empty: never a guess); a cascade
sends only the rows under its threshold to the strong method. Interrupted? Rerun it: finished rows are kept.
"""
from pathlib import Path

from stages import baseline, predict_finetuned, predict_finetuned_head, predict_prompted
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import CascadeMethod, FinetunedMethod, HeadMethod, Params, PromptMethod, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json, write_json
from stages.lib.methods.cascade_classifier import CascadeClassifier
from stages.lib.new_data import classify_file, read_inputs, run_key
from stages.lib.predictions import task_data, task_labels

BUILDERS = {PromptMethod: predict_prompted, FinetunedMethod: predict_finetuned, HeadMethod: predict_finetuned_head}


def build(params: Params, task: str, method: str):
    """The method's classifier, as its pipeline stage builds it; a cascade from its two parts and the threshold its
    stage chose on validation (the part it reduces to alone, where one dominated)."""
    if not isinstance(params.method(method), CascadeMethod):
        return BUILDERS.get(type(params.method(method)), baseline).build_classifier(params, task, method)
    if not paths.cascade(task).exists():
        raise PipelineError(f"{paths.cascade(task)}: missing; run dvc repro scoring/dvc.yaml:cascade@{task} first")
    chosen = read_json(paths.cascade(task))
    names = {"cheap": chosen["cheap"], "strong": chosen["strong"]}
    return CascadeClassifier(None if chosen["reduces_to"] == chosen["strong"] else build(params, task, names["cheap"]),
                             None if chosen["reduces_to"] == chosen["cheap"] else build(params, task, names["strong"]),
                             chosen["threshold"], names)


def main() -> None:
    args = stage_args("task", "method", "input", "output",
                      **{"min-confidence": {"type": float, "default": None,
                                            "help": "abstain below this confidence (label empty)"}})
    params = load_params()
    task = params.task(args.task)
    rows = read_inputs(args.input, task.dataset, params.dataset(task.dataset))
    clf = build(params, args.task, args.method)
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
