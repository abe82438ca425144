"""What nearest-neighbour few-shot retrieves by (`methods.<name>.retriever`): TF-IDF cosine, or the cosine of a
sentence encoder's normalised embeddings. Both score a chunk of queries against every training row at once, so
`PromptClassifier.neighbours` keeps memory at chunk x train whatever the retriever."""
from __future__ import annotations

import numpy as np

from stages.lib import counting, encoders


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

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, list[float]]:
        vectors = self.model_.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        lengths = self.model_.tokenize(texts)["attention_mask"].sum(1).tolist() if texts else []
        return vectors, [counting.forward_flops(self.shape_, int(n), causal=False) for n in lengths]

    def fit(self, texts: list[str]) -> EmbeddingRetriever:
        self.model_ = encoders.load(encoders.folder(self.encoder))
        self.shape_ = counting.shape(self.model_[0].auto_model)
        self.matrix_, work = self._embed(texts)
        self.fit_flops_ = float(sum(work))
        return self

    def scores(self, texts: list[str]) -> tuple[np.ndarray, list[float]]:
        vectors, work = self._embed(texts)
        return vectors @ self.matrix_.T, work


def retriever(kind: str, encoder: str | None):
    return EmbeddingRetriever(encoder) if kind == "embedding" else TfidfRetriever()
