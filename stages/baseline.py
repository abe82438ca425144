"""Stage: the TF-IDF + linear SVM baseline's test predictions for one task (no torch, no language model).

python -m stages.baseline --task balanced
"""
from stages.lib.cli import run, stage_args
from stages.lib.config import TfidfMethod, load_params
from stages.lib.errors import PipelineError
from stages.lib.methods.tfidf import TfidfClassifier
from stages.lib.predictions import fit_predict_write, task_labels


def main() -> None:
    args = stage_args("task", method={"default": "baseline"})
    params = load_params()
    cfg = params.method(args.method)
    if not isinstance(cfg, TfidfMethod):
        raise PipelineError(f"params.yaml: methods.{args.method}.type must be tfidf for this stage")
    clf = TfidfClassifier(list(task_labels(args.task)), C=cfg.C, ngram_max=cfg.ngram_max, seed=params.seed)
    fit_predict_write(clf, args.task, args.method, ["test"])


if __name__ == "__main__":
    run(main)
