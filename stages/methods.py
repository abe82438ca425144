"""Build a method's classifier from params.yaml: the only place that knows which class implements a method."""
from __future__ import annotations

from stages.io import PipelineError


def build(method: str, task: str, params: dict, labels: dict[str, list[str]]):
    cfg = (params.get("methods") or {}).get(method)
    if cfg is None:
        raise PipelineError(f"params.yaml: unknown method {method!r} (known: {', '.join(params.get('methods') or {})})")
    kind = cfg.get("type")
    fields = list(labels)
    if kind == "tfidf":
        from stages.baseline import TfidfClassifier

        return TfidfClassifier(fields, C=cfg["C"], ngram_max=cfg["ngram_max"], seed=params["seed"])
    if kind == "prompt":
        from stages.prompting import build_prompt_classifier

        return build_prompt_classifier(method, task, params, labels)
    if kind == "finetuned":
        from stages.finetuning import build_finetuned_classifier

        return build_finetuned_classifier(task, params, labels)
    raise PipelineError(f"params.yaml: methods.{method}.type {kind!r} is not one of tfidf, prompt, finetuned")
