"""The prompting methods (type `prompt`: zero-shot, mined few-shot, nearest-neighbour few-shot) as classifiers: a
prompt file and the prompted model of `params.model`, the local base model on its engine or Claude."""
from __future__ import annotations

from stages.lib import paths
from stages.lib.backends.prompted_backend import prompted_backend
from stages.lib.files import read_json
from stages.lib.methods.llm import PromptClassifier
from stages.lib.retrieval import retriever


def build(params, task: str, name: str) -> PromptClassifier:
    """Method `name` (type prompt) for `task`: the method registry's builder."""
    cfg = params.method(name)
    backend = prompted_backend(params, cfg.batch_size)
    return PromptClassifier(read_json(paths.prompt(task, cfg.prompt)), backend, mode=cfg.mode, knn=cfg.knn,
                            max_new_tokens=cfg.max_new_tokens, max_input_tokens=cfg.max_input_tokens,
                            max_example_tokens=cfg.max_example_tokens, retriever=retriever(cfg.retriever, cfg.encoder))
