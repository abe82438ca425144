"""Stage: the cascade of one task (method `cascade`): the cheap method answers, and rows under a confidence threshold
go to the strong method. The threshold is chosen on validation rows by `methods.cascade.rule` and applied unchanged
to test; both methods' existing predictions are combined, so nothing new is inferred.

python -m stages.cascade --task imbalanced
Writes the cascade's validation and test predictions (scored by `evaluate` as any method's) and
metrics/cascade/<task>.json: the parts, why, the threshold, the escalated shares and paired verdicts against each
part on the test rows.
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.escalation import build_cascade
from stages.lib.files import write_json, write_jsonl


def main() -> None:
    args = stage_args("task", method={"default": "cascade"})
    out, metas, summary = build_cascade(load_params(), args.task, args.method)
    for split in ("val", "test"):
        write_jsonl(paths.predictions(args.task, args.method, split), out[split])
        write_json(paths.predictions_meta(args.task, args.method, split), metas[split])
    write_json(paths.cascade(args.task), summary)
    how = (f"reduces to {summary['reduces_to']} ({summary['why']})" if summary["reduces_to"] else
           f"threshold {summary['threshold']}, escalates {summary['escalated_test']:.0%} of test rows")
    print(f"{args.task}/{args.method}: {summary['cheap']} → {summary['strong']}: {how}")


if __name__ == "__main__":
    run(main)
