"""Stage: sample one task (balanced / imbalanced / multi-task) from a dataset's splits.

python -m stages.task --task balanced
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import read_jsonl, write_json, write_jsonl
from stages.lib.sampling import label_space, sample_task


def main() -> None:
    args = stage_args("task")
    params = load_params()
    task = params.task(args.task)
    splits = {s: read_jsonl(paths.split(task.dataset, s)) for s in paths.SPLITS}
    out = sample_task(splits, task, params.split.seed)
    for s in paths.SPLITS:
        write_jsonl(paths.task_split(args.task, s), out[s])
    write_json(paths.task_labels(args.task), label_space(out["train"], task.labels))
    print(f"{args.task}: " + ", ".join(f"{s}: {len(out[s])}" for s in paths.SPLITS))


if __name__ == "__main__":
    run(main)
