"""Prompt engineering as a classifier: zero-shot, few-shot (mined or nearest-neighbour), on any backend
(a local model from `stages.local_lm`, or Claude from `stages.claude`) with the same `classify`/`generate` calls."""
from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

from stages.classifier import Classifier, Timer, prediction
from stages.io import PipelineError, read_json
from stages.parsing import parse_answer
from stages.prompts import answer_text, examples_block

MODES = ("constrained", "generate")


class PromptClassifier(Classifier):
    def __init__(self, prompt: dict, backend, mode: str = "constrained", knn: int = 0, max_new_tokens: int | None = None):
        if mode not in MODES:
            raise PipelineError(f"params.yaml: mode {mode!r} is not one of {MODES}")
        self.prompt, self.backend, self.mode, self.knn, self.max_new_tokens = prompt, backend, mode, knn, max_new_tokens
        self.fields, self.labels = prompt["fields"], prompt["labels"]

    def fit(self, train, val):
        """Only the nearest-neighbour variant learns anything: an index over the training split."""
        if self.knn:
            self.train_ = train
            self.vectorizer_ = TfidfVectorizer(sublinear_tf=True).fit([r["text"] for r in train])
            self.train_matrix_ = self.vectorizer_.transform([r["text"] for r in train])
        return self

    def neighbours(self, records: list[dict]) -> list[list[dict]]:
        sims = linear_kernel(self.vectorizer_.transform([r["text"] for r in records]), self.train_matrix_)
        out = []
        for row in sims:
            best = sorted(range(len(row)), key=lambda j: (-row[j], self.train_[j]["id"]))[: self.knn]
            out.append([self.train_[j] for j in reversed(best)])  # most similar last, nearest the question
        return out

    def predict(self, records):
        texts = [r["text"] for r in records]
        prefixes = None
        if self.knn:
            prefixes = [
                "Examples:\n\n" + examples_block([{"text": e["text"], "answer": answer_text(e["labels"])} for e in ex])
                + "\n\nQuestion: "
                for ex in self.neighbours(records)
            ]
        system = self.prompt["system"]
        if self.mode == "constrained":
            answers = self.backend.classify(system, texts, self.fields, self.labels, user_prefixes=prefixes)
        else:
            answers = self.backend.generate(system, texts, user_prefixes=prefixes, max_new_tokens=self.max_new_tokens)
            for a in answers:
                a["pred"] = parse_answer(a["raw"], self.fields, self.labels) if not a.get("error") else {f: None for f in self.fields}
        return [prediction(r, a.pop("pred"), **a) for r, a in zip(records, answers)]

    def describe(self) -> dict:
        return {"mode": self.mode, "knn": self.knn, **self.backend.describe()}


def model_entry(params: dict, name: str) -> dict:
    models = params.get("models") or {}
    if name not in models:
        raise PipelineError(f"params.yaml: unknown model {name!r} (known: {', '.join(models)})")
    return models[name]


def build_backend(params: dict, cfg: dict, task: str, method: str):
    name = params["model"]
    entry = model_entry(params, name)
    if entry["provider"] == "local":
        if name != params["base_model"]:
            raise PipelineError(f"params.yaml: model {name!r} is local; local prompting uses the prepared base model, "
                                f"so set base_model={name} as well (dvc exp run -S model={name} -S base_model={name})")
        from stages import local_lm

        return local_lm.LocalLM(*local_lm.load("models/base"), batch_size=cfg.get("batch_size", 16), info={"model": name})
    if entry["provider"] == "anthropic":
        from stages.claude import ClaudeBackend

        return ClaudeBackend.from_params(params, name, stage=f"{task}/{method}")
    raise PipelineError(f"params.yaml: models.{name}.provider {entry['provider']!r} is not local or anthropic")


def build_prompt_classifier(method: str, task: str, params: dict, labels: dict) -> PromptClassifier:
    cfg = params["methods"][method]
    prompt = read_json(f"data/prompts/{task}/{cfg['prompt']}.json")
    return PromptClassifier(prompt, build_backend(params, cfg, task, method), mode=cfg.get("mode", "constrained"),
                            knn=cfg.get("knn", 0), max_new_tokens=cfg.get("max_new_tokens"))
