"""Stage: score one method's test predictions on one task.

python -m stages.evaluate --task balanced --method baseline
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.files import atomic_path, read_json, read_jsonl, write_json
from stages.lib.scoring import confusion_png, confusion_rows, evaluate, slug


def main() -> None:
    args = stage_args("task", "method")
    preds = read_jsonl(paths.predictions(args.task, args.method))
    labels = read_json(paths.task_labels(args.task))
    metrics = evaluate(preds, labels, read_json(paths.predictions_meta(args.task, args.method)))
    with atomic_path(paths.confusion(args.task, args.method)) as out:
        out.mkdir()
        for field in labels:
            rows = confusion_rows(preds, field)
            write_json(out / f"{slug(field)}.json", rows)
            confusion_png(rows, out / f"{slug(field)}.png", f"{args.task} · {args.method} · {field}")
    write_json(paths.eval_metrics(args.task, args.method), metrics)
    print(f"{args.task}/{args.method}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, "
          f"invalid {metrics['invalid_rate']:.1%}, n={metrics['n']}")


if __name__ == "__main__":
    run(main)
