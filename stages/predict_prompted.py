"""Stage: a prompting method's predictions (zero-shot, mined few-shot, nearest-neighbour few-shot) from the
prompted model of `params.model`: the local base model (on its engine), or Claude.

python -m stages.predict_prompted --task balanced --method zero_shot [--splits val test]
With `methods.<method>.processes` > 1 the stage reruns itself under torchrun and the rows are sharded.
"""
from stages.lib import paths
from stages.lib.backends.registry import prompted_backend
from stages.lib.cli import run, stage_args
from stages.lib.config import Params, PromptMethod, load_params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json
from stages.lib.methods.llm import PromptClassifier
from stages.lib.predictions import fit_predict_write
from stages.lib.sharding import DataParallel, relaunch


def method_config(params: Params, method: str) -> PromptMethod:
    cfg = params.method(method)
    if not isinstance(cfg, PromptMethod):
        raise PipelineError(f"params.yaml: methods.{method}.type must be prompt for this stage")
    return cfg


def build_classifier(params: Params, task: str, method: str) -> PromptClassifier:
    cfg = method_config(params, method)
    backend = prompted_backend(params, cfg.batch_size)
    return PromptClassifier(read_json(paths.prompt(task, cfg.prompt)), backend, mode=cfg.mode, knn=cfg.knn,
                            max_new_tokens=cfg.max_new_tokens, max_input_tokens=cfg.max_input_tokens,
                            max_example_tokens=cfg.max_example_tokens)


def main() -> None:
    args = stage_args("task", "method", splits={"nargs": "+", "default": ["test"]},
                      **{"val-rows": {"type": int, "default": None, "help": "predict the first N validation rows"}})
    params = load_params()
    relaunch(method_config(params, args.method).processes)
    parallel = DataParallel()
    fit_predict_write(build_classifier(params, args.task, args.method), args.task, args.method, args.splits, parallel,
                      val_rows=args.val_rows)


if __name__ == "__main__":
    run(main)
