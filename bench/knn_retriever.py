"""Benchmark: what nearest-neighbour few-shot retrieves by (`methods.few_shot_knn.retriever`): TF-IDF cosine
against the cosine of the sentence encoder's embeddings, on the learning-curve task's test rows, with the
pipeline's model, prompt and example bound, one run. Speed includes the retrieval; the embedding row is compared
with the TF-IDF row row by row (paired bootstrap interval, exact McNemar). The default is the one these figures
favour (docs/methods.md).

python -m bench knn_retriever                 # the first of learning_curve.tasks, every test row
"""
import argparse
import time

from tabulate import tabulate

from bench.knn_examples import knn_inputs
from stages.lib.intervals import interval, resamples
from stages.lib.methods.llm import PromptClassifier
from stages.lib.retrieval import EmbeddingRetriever, TfidfRetriever
from stages.lib.scoring import exact_match, paired_outcomes


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--task", default=None, help="default: the first of learning_curve.tasks")
    ap.add_argument("--encoder", default="minilm", help="the embedding retriever's encoder (a key of `encoders`)")
    ap.add_argument("--n", type=int, default=None, help="test rows (default: all)")


def run(args: argparse.Namespace) -> None:
    params, task, cfg, train, val, test, prompt, backend = knn_inputs(args)
    results = {}
    for retriever in (TfidfRetriever(), EmbeddingRetriever(args.encoder)):
        name = retriever.name
        start = time.perf_counter()
        clf = PromptClassifier(prompt, backend, mode=cfg.mode, knn=cfg.knn, max_input_tokens=cfg.max_input_tokens,
                               max_example_tokens=cfg.max_example_tokens, retriever=retriever).fit(train, val)
        fitted = time.perf_counter()
        preds = clf.predict(test)
        results[name] = (fitted - start, time.perf_counter() - fitted, preds, exact_match(preds, prompt["fields"]))
    idx = resamples(len(test), params.evaluate.bootstrap, params.seed)
    tfidf = results["tfidf"][3]
    rows = []
    for name, (fit_s, predict_s, _, right) in results.items():
        lo, hi = interval(right[idx].mean(1), params.evaluate.confidence)
        verdict = ""
        if name != "tfidf":
            c = paired_outcomes(right, tfidf, params.evaluate.bootstrap, params.evaluate.confidence, params.seed)
            ci = c["difference_ci"]
            verdict = (f"{100 * c['difference']:+.1f} pts ({100 * ci['low']:+.1f} to {100 * ci['high']:+.1f}), "
                       f"p={c['mcnemar_p']:.3g}")
        rows.append([name, fit_s, len(test) / predict_s, f"{right.mean():.1%} [{lo:.1%}–{hi:.1%}]", verdict])
    print(f"{task}: {len(train)} training rows as the pool, {len(test)} test rows, knn={cfg.knn}, "
          f"max_example_tokens={cfg.max_example_tokens}, model {params.model}")
    print(tabulate(rows, headers=["retriever", "index s", "samples/s (retrieval included)", "accuracy [95% CI]",
                                  "vs tfidf (paired)"], floatfmt=".2f", tablefmt="github"))
