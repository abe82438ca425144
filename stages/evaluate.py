"""Stage: score one method's test predictions on one task: headline figures with bootstrap intervals (the DVC
metrics), per-field and per-class details, timings, confusion matrices, and each row's outcome (for the PR gate).

python -m stages.evaluate --task balanced --method baseline
"""
import sys

from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.confusion import confusion_rows, confusion_svg
from stages.lib.files import atomic_path, read_json, read_jsonl, write_json
from stages.lib.scoring import correct_rows, score_predictions, slug


def main() -> None:
    args = stage_args("task", "method")
    params = load_params()
    preds = read_jsonl(paths.predictions(args.task, args.method))
    labels = read_json(paths.task_labels(args.task))
    meta = read_json(paths.predictions_meta(args.task, args.method))
    # the first evaluate.val_rows validation rows: where confidences are recalibrated and thresholds chosen
    val_path = paths.predictions(args.task, args.method, "val")
    val = read_jsonl(val_path)[: params.evaluate.val_rows] if val_path.exists() else None
    headline, details, timings = score_predictions(preds, labels, meta, params.evaluate.bootstrap,
                                                   params.evaluate.confidence, params.seed, val,
                                                   params.evaluate.recalibration, params.evaluate.target_accuracy)
    with atomic_path(paths.confusion(args.task, args.method)) as out:
        out.mkdir()
        for field in labels:
            rows = confusion_rows(preds, field)
            write_json(out / f"{slug(field)}.json", rows)
            confusion_svg(rows, out / f"{slug(field)}.svg", f"{args.task} · {args.method} · {field}")
    write_json(paths.eval_details(args.task, args.method), details)
    write_json(paths.eval_rows(args.task, args.method), correct_rows(preds, list(labels)))
    write_json(paths.eval_timings(args.task, args.method), timings)
    write_json(paths.eval_metrics(args.task, args.method), headline)
    if fields := headline.get("collapsed_fields"):
        print(f"warning: {args.task}/{args.method} answers one class for nearly every validation row on "
              f"{', '.join(fields)} while the data have several (collapsed; marked in the report)", file=sys.stderr)
    ci = headline["accuracy_ci"]
    print(f"{args.task}/{args.method}: accuracy {headline['accuracy']:.3f} [{ci['low']:.3f}–{ci['high']:.3f}], "
          f"macro-F1 {headline['macro_f1']:.3f}, invalid {headline['invalid_rate']:.1%}, n={headline['n']}")


if __name__ == "__main__":
    run(main)
