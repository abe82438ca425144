"""A language model as a classifier: zero-shot, few-shot (mined or nearest-neighbour) or fine-tuned, on any
backend (a local model or Claude) through the same `classify`/`generate` calls."""
from __future__ import annotations

import numpy as np

from stages.lib.errors import PipelineError
from stages.lib.methods.base import Backend, Classifier, Timer, prediction
from stages.lib.methods.registry import MODES
from stages.lib.parsing import parse_answer
from stages.lib.templates import answer_text, examples_block


class PromptClassifier(Classifier):
    """`prompt` is a prompt file's content (system, fields, labels). `knn` > 0 puts each sample's most similar
    training examples before it. `fit_seconds` and `train_rows` are the up-front time and training rows already
spent elsewhere (fine-tuning), `fit_flops` its counted work; a prompt's own examples count as training rows too."""

    def __init__(self, prompt: dict, backend: Backend, mode: str, knn: int = 0, max_new_tokens: int | None = None,
                 max_input_tokens: int | None = None, fit_seconds: float = 0.0, train_rows: int = 0,
                 max_example_tokens: int | None = None, fit_flops: float | None = None, retriever=None):
        if mode not in MODES:
            raise PipelineError(f"params.yaml: mode {mode!r} is not one of {MODES}")
        self.prompt, self.backend, self.mode, self.knn, self.max_new_tokens = (
            prompt,
            backend,
            mode,
            knn,
            max_new_tokens,
        )
        self.fields, self.labels = prompt["fields"], prompt["labels"]
        self.fit_seconds, self.train_rows, self.max_input_tokens = fit_seconds, train_rows, max_input_tokens
        self.max_example_tokens, self.fit_flops = max_example_tokens, fit_flops
        self.retriever = retriever  # kNN: a `stages.lib.retrieval` retriever (TF-IDF when None)

    def fit(self, train, val):
        """Only the nearest-neighbour variant learns anything: an index over the training split."""
        with Timer() as t:
            if self.knn:
                from stages.lib.retrieval import TfidfRetriever

                self.train_ = train
                self.retriever_ = (self.retriever or TfidfRetriever()).fit([r["text"] for r in train])
                self.id_rank_ = np.empty(len(train), dtype=np.int64)  # ties go to the smaller id, as before
                self.id_rank_[sorted(range(len(train)), key=lambda j: train[j]["id"])] = np.arange(len(train))
        # mined examples were paid for by a whole zero-shot validation run and every validation label it read
        mined = self.prompt.get("mined_from") or {"seconds": 0.0, "labelled_rows": 0, "cost_usd": None, "flops": 0.0}
        self.fit_seconds_ = self.fit_seconds + t.seconds + mined["seconds"]
        # counted: the training run's and the mining run's model work, and the kNN index's (an encoder's forward
        # over the training rows; TF-IDF's sparse pass is not counted)
        self.fit_flops_ = ((self.fit_flops or 0.0) + (mined.get("flops") or 0.0)
                           + (self.retriever_.fit_flops_ if self.knn else 0.0))
        self.fit_cost_usd_ = mined["cost_usd"]
        self.train_rows_ = (self.train_rows + len(self.prompt["examples"]) + mined["labelled_rows"]
                            + (len(train) if self.knn else 0))
        return self

    def neighbours(self, records: list[dict], chunk: int = 256) -> tuple[list[list[dict]], list[float]]:
        """(each record's `knn` most similar training rows, by the retriever's cosine, ties to the smaller id, most
        similar last; each record's counted retrieval work). The similarity matrix is built `chunk` rows at a time
        and each row only partitioned, not sorted, so memory stays at chunk x train (18.7k x 60k at the study's
        size would be 9 GB of float64 at once)."""
        out, work = [], []
        for start in range(0, len(records), chunk):
            scores, flops = self.retriever_.scores([r["text"] for r in records[start : start + chunk]])
            work += flops
            for row in scores:
                k = min(self.knn, len(row))
                candidates = np.flatnonzero(row >= np.partition(row, -k)[-k])  # the top k, and any tied with the k-th
                best = candidates[np.lexsort((self.id_rank_[candidates], -row[candidates]))][:k]
                out.append([self.train_[j] for j in reversed(best)])  # most similar last, nearest the question
        return out, work

    def _bounded(self, text: str, max_tokens: int | None = None) -> tuple[str, bool]:
        """The text cut to `max_tokens` or else `max_input_tokens` (None: what the model's context leaves after
        the prompt)."""
        return self.backend.truncate(text, max_tokens or self.max_input_tokens, self.prompt["system"])

    def predict(self, records):
        system = self.prompt["system"]
        texts, cut = zip(*(self._bounded(r["text"]) for r in records), strict=True) if records else ((), ())
        prefixes, retrieval = None, [0.0] * len(records)
        if self.knn:
            examples, retrieval = self.neighbours(records)
            prefixes = [
                "Examples:\n\n"
                + examples_block(
                    [{"text": self._bounded(e["text"], self.max_example_tokens)[0], "answer": answer_text(e["labels"])}
                     for e in ex]
                )
                + "\n\nQuestion: "
                for ex in examples
            ]
        texts = list(texts)
        if self.mode == "constrained":
            answers = self.backend.classify(system, texts, self.fields, self.labels, user_prefixes=prefixes)
        else:
            answers = self.backend.generate(system, texts, user_prefixes=prefixes, max_new_tokens=self.max_new_tokens)
            for a in answers:
                a["pred"] = parse_answer(a["raw"], self.fields, self.labels)
        for a, flops in zip(answers, retrieval, strict=True):
            if flops and a.get("flops") is not None:  # a local model's counted work, plus the query's embedding
                a["flops"] += flops
        return [prediction(r, a.pop("pred"), truncated=c, **a) for r, a, c in zip(records, answers, cut, strict=True)]

    def describe(self) -> dict:
        knn = {"max_example_tokens": self.max_example_tokens, "retriever": self.retriever_.name if self.knn else None}
        return {"mode": self.mode, "knn": self.knn, **(knn if self.knn else {}), **self.backend.describe()}
