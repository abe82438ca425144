"""Stage: a prompting method's predictions (zero-shot, mined few-shot, nearest-neighbour few-shot) from the
prompted model of `params.model`: the local base model, or Claude.

python -m stages.predict_prompted --task balanced --method zero_shot [--splits val test]
"""
from stages.lib import paths
from stages.lib.backends.factory import build_backend
from stages.lib.cli import run, stage_args
from stages.lib.config import PromptMethod, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.llm import PromptClassifier
from stages.lib.predictions import fit_predict_write


def main() -> None:
    args = stage_args("task", "method", splits={"nargs": "+", "default": ["test"]})
    params = load_params()
    cfg = params.method(args.method)
    if not isinstance(cfg, PromptMethod):
        raise PipelineError(f"params.yaml: methods.{args.method}.type must be prompt for this stage")
    prompt = read_json(paths.prompt(args.task, cfg.prompt))
    backend = build_backend(params, cfg.batch_size, stage=f"{args.task}/{args.method}")
    clf = PromptClassifier(prompt, backend, mode=cfg.mode, knn=cfg.knn, max_new_tokens=cfg.max_new_tokens)
    fit_predict_write(clf, args.task, args.method, args.splits)


if __name__ == "__main__":
    run(main)
