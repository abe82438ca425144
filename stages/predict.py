"""Stage: fit a method on a task's train/val and write its predictions for the requested splits.

python -m stages.predict --task balanced --method baseline [--splits val test]
Writes data/predictions/<task>/<method>[.<split>].jsonl (test has no suffix) and a .meta.json with timings.
"""

from stages import methods
from stages.classifier import Timer
from stages.io import load_params, read_json, read_jsonl, run, stage_args, write_json, write_jsonl


def output_stem(task: str, method: str, split: str) -> str:
    return f"data/predictions/{task}/{method}" + ("" if split == "test" else f".{split}")


def main() -> None:
    args = stage_args("task", "method", splits={"nargs": "+", "default": ["test"]})
    params = load_params()
    data = {s: read_jsonl(f"data/tasks/{args.task}/{s}.jsonl") for s in {"train", "val", *args.splits}}
    labels = read_json(f"data/tasks/{args.task}/labels.json")
    clf = methods.build(args.method, args.task, params, labels)
    with Timer() as fit:
        clf.fit(data["train"], data["val"])
    for split in args.splits:
        with Timer() as t:
            preds = clf.predict(data[split])
        stem = output_stem(args.task, args.method, split)
        write_jsonl(f"{stem}.jsonl", preds)
        write_json(f"{stem}.meta.json", {"fit_seconds": getattr(clf, "fit_seconds", None) or fit.seconds, "predict_seconds": t.seconds, "n": len(preds),
                                         **getattr(clf, "describe", lambda: {})()})
        print(f"{args.task}/{args.method} {split}: {len(preds)} predictions in {t.seconds:.1f}s")


if __name__ == "__main__":
    run(main)
