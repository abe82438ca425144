"""Stage: the reference method (default: fine-tuned) against every other method of one task, row by row on the
same test set: the accuracy difference with its paired bootstrap interval, and an exact McNemar p-value.

python -m stages.compare --task balanced
"""
from stages.lib import paths
from stages.lib.cli import run, stage_args
from stages.lib.config import load_params
from stages.lib.files import read_json, read_jsonl, write_json
from stages.lib.scoring import adjust_family, paired
from stages.lib.summary import verdict


def main() -> None:
    args = stage_args("task")
    params = load_params()
    cfg, ref = params.evaluate, params.evaluate.reference
    fields = list(read_json(paths.task_labels(args.task)))
    reference = read_jsonl(paths.predictions(args.task, ref))
    out = {method: paired(reference, read_jsonl(paths.predictions(args.task, method)), fields,
                          cfg.bootstrap, cfg.confidence, params.seed)
           for method in params.report.methods if method != ref}
    out = adjust_family(out, cfg.confidence)  # Holm over this task's comparisons
    for method, c in out.items():
        print(verdict(args.task, ref, method, c))
    write_json(paths.comparison(args.task), {"reference": ref, "confidence": cfg.confidence, "against": out})


if __name__ == "__main__":
    run(main)
