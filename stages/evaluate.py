"""Stage: score one method's test predictions on one task.

python -m stages.evaluate --task balanced --method baseline
"""
from pathlib import Path

from stages.io import atomic_path, read_json, read_jsonl, run, stage_args, write_json
from stages.metrics import confusion_png, confusion_rows, evaluate, slug


def main() -> None:
    args = stage_args("task", "method")
    stem = f"data/predictions/{args.task}/{args.method}"
    preds = read_jsonl(f"{stem}.jsonl")
    labels = read_json(f"data/tasks/{args.task}/labels.json")
    metrics = evaluate(preds, labels, read_json(f"{stem}.meta.json"))
    with atomic_path(f"metrics/confusion/{args.task}/{args.method}") as out:
        out.mkdir()
        for field in labels:
            rows = confusion_rows(preds, field)
            write_json(out / f"{slug(field)}.json", rows)
            confusion_png(rows, out / f"{slug(field)}.png", f"{args.task} · {args.method} · {field}")
    write_json(f"metrics/eval/{args.task}/{args.method}.json", metrics)
    print(f"{args.task}/{args.method}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, "
          f"invalid {metrics['invalid_rate']:.1%}, n={metrics['n']}")


if __name__ == "__main__":
    run(main)
