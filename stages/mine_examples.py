"""Stage: the study's few-shot prompt — mine the errors of `mine_from` (zero-shot) on the validation split, add
training examples of the worst classes to its prompt. Test data takes no part.

python -m stages.mine_examples --task balanced --method few_shot
"""
import random

from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.errors import PipelineError
from stages.lib.fewshot import mine_errors, pick_examples
from stages.lib.files import read_json, read_jsonl, write_json
from stages.lib.templates import with_examples


def main() -> None:
    args = stage_args("task", "method")
    params = load_params()
    cfg = params.method(args.method)
    if cfg.type != "prompt" or cfg.mine_from is None:
        raise PipelineError(f"params.yaml: methods.{args.method} needs type prompt and mine_from to mine")
    source = params.method(cfg.mine_from)
    base = read_json(paths.prompt(args.task, source.prompt))
    val_preds = read_jsonl(paths.predictions(args.task, cfg.mine_from, "val"))
    val_meta = read_json(paths.predictions_meta(args.task, cfg.mine_from, "val"))
    train = read_jsonl(paths.task_split(args.task, "train"))
    mined = mine_errors(val_preds, base["fields"], cfg.classes)
    examples = pick_examples(mined, train, cfg.per_class, random.Random(params.seed))
    # What mining cost: a whole zero-shot validation run (its seconds, and its dollars on an API model) and the
    # labels of every validation row it read. The few-shot method's up-front cost and training rows include them.
    spent = [p["cost_usd"] for p in val_preds if p.get("cost_usd") is not None]
    mined_from = {"split": "val", "labelled_rows": len(val_preds), "seconds": val_meta["predict_seconds"],
                  "cost_usd": sum(spent) if spent else None,
                  "flops": sum(p.get("flops") or 0.0 for p in val_preds)}
    write_json(paths.prompt(args.task, cfg.prompt), {**with_examples(base, examples), "mined_from": mined_from})
    print(
        f"{args.task}: {len(examples)} examples for "
        + "; ".join(f"{m['label']} ({m['errors']} errors)" for m in mined)
    )


if __name__ == "__main__":
    run(main)
