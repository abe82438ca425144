"""Stage: the study's few-shot prompt — mine the zero-shot errors on the validation split, add training
examples of the worst classes to the zero-shot prompt. Test data takes no part.

python -m stages.mine_examples --task balanced
"""
import random

from stages import prompts
from stages.io import load_params, read_json, read_jsonl, run, stage_args, write_json


def main() -> None:
    args = stage_args("task")
    params = load_params()
    cfg = params["methods"]["few_shot"]
    base = read_json(f"data/prompts/{args.task}/zero_shot.json")
    val_preds = read_jsonl(f"data/predictions/{args.task}/zero_shot.val.jsonl")
    train = read_jsonl(f"data/tasks/{args.task}/train.jsonl")
    mined = prompts.mine_errors(val_preds, base["fields"], cfg["classes"])
    examples = prompts.pick_examples(mined, train, cfg["per_class"], random.Random(params["seed"]))
    write_json(f"data/prompts/{args.task}/few_shot.json", prompts.with_examples(base, examples))
    print(f"{args.task}: {len(examples)} examples for " + "; ".join(f"{m['label']} ({m['errors']} errors)" for m in mined))


if __name__ == "__main__":
    run(main)
