"""Stage: render a task's zero-shot prompt to data/prompts/<task>/zero_shot.json (a prompt change is a diff).

python -m stages.prompt --task balanced
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import read_json, write_json
from stages.lib.templates import zero_shot


def main() -> None:
    args = stage_args("task")
    subject = load_params().subject(args.task)
    labels = read_json(paths.task_labels(args.task))
    write_json(paths.prompt(args.task, "zero_shot"), zero_shot(labels, subject))


if __name__ == "__main__":
    run(main)
