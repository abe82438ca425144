"""What nearest-neighbour few-shot retrieves by (`methods.<name>.retriever`): TF-IDF cosine, or the cosine of a
sentence encoder's normalised embeddings. Both score a chunk of queries against every training row at once, so
`PromptClassifier.neighbours` keeps memory at chunk x train whatever the retriever."""
from __future__ import annotations

import numpy as np

from stages.lib import encoders


class TfidfRetriever:
    """Sparse, word-level: cheap, and blind to wording it has not seen (its index is not counted as model work)."""
    name = "tfidf"

    def fit(self, texts: list[str]) -> TfidfRetriever:
        # imported here: scikit-learn's import (1.6 s) was 3/4 of a Claude stage's start
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(sublinear_tf=True).fit(texts)
        self.matrix_ = self.vectorizer_.transform(texts)
        self.fit_flops_ = 0.0
        return self

    def scores(self, texts: list[str]) -> tuple[np.ndarray, list[float]]:
        """(cosine similarities, queries x training rows; each query's counted work)."""
        from sklearn.metrics.pairwise import linear_kernel

        return linear_kernel(self.vectorizer_.transform(texts), self.matrix_), [0.0] * len(texts)


class EmbeddingRetriever:
    """Dense, sentence-level: the encoder's forward over every training row once, then over each query (both
    counted as model work)."""

    def __init__(self, encoder: str, batch_size: int = 64):
        self.encoder, self.batch_size, self.name = encoder, batch_size, f"embedding:{encoder}"

    def fit(self, texts: list[str]) -> EmbeddingRetriever:
        self.model_ = encoders.load(encoders.folder(self.encoder))
        self.matrix_, work = encoders.embed(self.model_, texts, self.batch_size)
        self.fit_flops_ = float(sum(work))
        return self

    def scores(self, texts: list[str]) -> tuple[np.ndarray, list[float]]:
        vectors, work = encoders.embed(self.model_, texts, self.batch_size)
        return vectors @ self.matrix_.T, work


def retriever(kind: str, encoder: str | None):
    return EmbeddingRetriever(encoder) if kind == "embedding" else TfidfRetriever()
