"""Stage: the TF-IDF + linear SVM baseline's test predictions for one task (no torch, no language model).

python -m stages.baseline --task balanced
"""
from stages.lib.cli import run, stage_args
from stages.lib.config import Params, TfidfMethod, load_params
from stages.lib.errors import PipelineError
from stages.lib.methods.tfidf import TfidfClassifier
from stages.lib.predictions import fit_predict_write, task_labels


def build_classifier(params: Params, task: str, method: str) -> TfidfClassifier:
    cfg = params.method(method)
    if not isinstance(cfg, TfidfMethod):
        raise PipelineError(f"params.yaml: methods.{method}.type must be tfidf for this stage")
    return TfidfClassifier(list(task_labels(task)), C=cfg.C, ngram_max=cfg.ngram_max, seed=params.seed,
                           search_rows=cfg.search_rows)


def main() -> None:
    args = stage_args("task", method={"default": "baseline"})
    params = load_params()
    fit_predict_write(build_classifier(params, args.task, args.method), args.task, args.method, ["val", "test"],
                      val_rows=params.evaluate.val_rows)


if __name__ == "__main__":
    run(main)
