"""Method type `tfidf`: TF-IDF + linear SVM (methods/tfidf.py), the classical baseline."""
from dataclasses import dataclass

from stages.lib.methods.registry import MethodType, _always
from stages.lib.schema import doc


@dataclass(frozen=True)
class TfidfMethod:
    type: str = doc("`tfidf`: TF-IDF + linear SVM, one per label field")
    C: list[float] = doc("the SVM's C grid, chosen per field by validation accuracy (ties: the smaller)")
    ngram_max: int = doc("word n-grams from 1 to this")
    search_rows: int | None = doc("above this many training rows, C is searched on a seeded subsample of that "
                                  "many and only the chosen C is fitted on all (null: always the full grid)")


SPEC = MethodType(TfidfMethod, "stages.lib.methods.tfidf:build", params=("seed",), learns=_always)
