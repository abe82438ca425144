"""Stage: render a task's zero-shot prompt to data/prompts/<task>/zero_shot.json (a prompt change is a diff).

python -m stages.prompt --task balanced
"""

from stages import prompts
from stages.io import load_params, read_json, run, stage_args, write_json


def main() -> None:
    args = stage_args("task")
    params = load_params()
    labels = read_json(f"data/tasks/{args.task}/labels.json")
    write_json(f"data/prompts/{args.task}/zero_shot.json", prompts.zero_shot(labels, params["prompts"]["subject"]))


if __name__ == "__main__":
    run(main)
