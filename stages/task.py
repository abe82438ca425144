"""Stage: sample one task (balanced / imbalanced / multi-task) from a dataset's splits.

python -m stages.task --task balanced
"""

from stages.io import PipelineError, load_params, read_jsonl, run, stage_args, write_json, write_jsonl
from stages.sampling import SPLITS, label_space, sample_task


def main() -> None:
    args = stage_args("task")
    params = load_params()
    task = (params.get("tasks") or {}).get(args.task)
    if task is None:
        raise PipelineError(f"params.yaml: unknown task {args.task!r}")
    splits = {s: read_jsonl(f"data/splits/{task['dataset']}/{s}.jsonl") for s in SPLITS}
    known = {f for r in splits["train"][:1] for f in r["labels"]}
    if unknown := [f for f in task["labels"] if f not in known]:
        raise PipelineError(f"params.yaml: tasks.{args.task}.labels {unknown} are not label fields of {task['dataset']}")
    out = sample_task(splits, task, params["split"]["seed"])
    for s in SPLITS:
        write_jsonl(f"data/tasks/{args.task}/{s}.jsonl", out[s])
    write_json(f"data/tasks/{args.task}/labels.json", label_space(out["train"], task["labels"]))
    print(f"{args.task}: " + ", ".join(f"{s}: {len(out[s])}" for s in SPLITS))


if __name__ == "__main__":
    run(main)
