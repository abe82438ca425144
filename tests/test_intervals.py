"""Bootstrap intervals and paired tests: the vectorised F1 equals scikit-learn's on every resample, intervals
behave as intervals, McNemar matches its textbook values, and the paired difference is computed on the same rows."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from stages.lib.intervals import encode, f1_per_resample, holm, interval, mcnemar_exact, resamples
from stages.lib.scoring import adjust_family, paired, per_class, score_predictions
from stages.lib.summary import render_markdown, verdict

RNG = np.random.default_rng(0)
Y_TRUE = [f"c{x}" for x in RNG.integers(0, 6, 150)]
Y_PRED = [f"c{x}" if x < 7 else None for x in RNG.integers(0, 8, 150)]  # c6 is not a true class; None invalid


def test_vectorised_f1_equals_sklearn_on_every_resample():
    t, p, k = encode(Y_TRUE, Y_PRED)
    idx = resamples(len(t), 30, seed=1)
    macro, weighted = f1_per_resample(t, p, k, idx)
    for r in range(idx.shape[0]):
        yt = [Y_TRUE[i] for i in idx[r]]
        yp = [Y_PRED[i] or "<invalid>" for i in idx[r]]
        union = sorted(set(yt) | set(yp) - {"<invalid>"})  # scikit-learn's own labels, invalid answers aside
        assert macro[r] == pytest.approx(f1_score(yt, yp, labels=union, average="macro", zero_division=0))
        assert weighted[r] == pytest.approx(
            f1_score(yt, yp, labels=sorted(set(yt)), average="weighted", zero_division=0)
        )


def test_per_class_figures_equal_sklearn_without_importing_it():
    classes = sorted(set(Y_TRUE) | {"c9"})  # c9: a label no row has; c6: predicted, not a class; None: invalid
    ours = per_class(Y_TRUE, Y_PRED, classes)
    theirs = precision_recall_fscore_support(Y_TRUE, [p or "<invalid>" for p in Y_PRED], labels=classes,
                                             zero_division=0)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


def test_macro_f1_counts_a_class_predicted_but_absent_from_the_truth_as_scikit_learn_does():
    yt, yp = ["a", "a", "b", "b"], ["a", "a", "b", "c"]  # c is predicted, never true
    t, p, k = encode(yt, yp)
    macro, _ = f1_per_resample(t, p, k, resamples(4, 0, seed=0))
    assert macro[0] == pytest.approx(f1_score(yt, yp, average="macro", zero_division=0)) == pytest.approx(
        (1 + 2 / 3 + 0) / 3)


def test_mcnemar_and_the_bootstrap_interval_agree_with_scipy_and_a_hand_computation():
    from scipy.stats import binomtest

    rng = np.random.default_rng(5)
    a, b = rng.random(80) < 0.7, rng.random(80) < 0.5
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    assert mcnemar_exact(a, b) == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    idx = np.random.default_rng(9).integers(0, 80, size=(300, 80))  # what resamples(80, 300, 9) draws after row 0
    by_hand = np.percentile(a[idx].mean(1) - b[idx].mean(1), [2.5, 97.5])
    ref = [{"id": str(i), "true": {"y": "A"}, "pred": {"y": "A" if x else "B"}} for i, x in enumerate(a)]
    other = [{"id": str(i), "true": {"y": "A"}, "pred": {"y": "A" if x else "B"}} for i, x in enumerate(b)]
    c = paired(ref, other, ["y"], bootstrap=300, confidence=0.95, seed=9)
    assert [c["difference_ci"]["low"], c["difference_ci"]["high"]] == pytest.approx(list(by_hand))


def test_holm_adjusts_a_family_of_comparisons_and_the_verdict_follows_the_adjusted_p():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])  # by hand: 3·0.01, 2·0.03, max(.06, .04)
    assert holm([0.5]) == [0.5] and holm([0.4, 0.9]) == pytest.approx([0.8, 0.9])
    ci = {"low": 0.01, "high": 0.2}
    family = adjust_family({m: {"mcnemar_p": p, "difference_ci": ci} for m, p in zip("xyz", [0.03, 0.02, 0.001],
                                                                                     strict=True)}, confidence=0.95)
    assert [family[m]["mcnemar_p_holm"] for m in "xyz"] == pytest.approx([0.04, 0.04, 0.003])
    assert all(family[m]["distinguishable"] for m in "xyz")
    family = adjust_family({m: {"mcnemar_p": p, "difference_ci": ci} for m, p in zip("xy", [0.03, 0.04], strict=True)},
                           confidence=0.95)
    assert not family["x"]["distinguishable"]  # 0.03 alone would pass; as one of two, 0.06 does not


def test_resamples_are_seeded_and_start_with_the_sample():
    a, b = resamples(10, 5, seed=3), resamples(10, 5, seed=3)
    assert (a == b).all() and (a[0] == np.arange(10)).all() and not (a == resamples(10, 5, seed=4)).all()


def test_interval_narrows_with_more_rows_and_covers_the_truth():
    covered, widths = 0, []
    for trial in range(40):
        rng = np.random.default_rng(trial)
        right = rng.random(200) < 0.7
        acc = right[resamples(200, 400, seed=trial)].mean(1)
        lo, hi = interval(acc, 0.95)
        covered += lo <= 0.7 <= hi
        widths.append(hi - lo)
    assert covered >= 34  # ~95% of 40; a broken interval (e.g. a point) fails this
    small = np.random.default_rng(0).random(30) < 0.7
    lo, hi = interval(small[resamples(30, 400, seed=0)].mean(1), 0.95)
    assert hi - lo > np.mean(widths)  # 30 rows are less certain than 200


def test_mcnemar_exact_known_values():
    a = np.array([True] * 10 + [False] * 0 + [True] * 5)
    b = np.array([False] * 10 + [True] * 0 + [True] * 5)
    assert mcnemar_exact(a, b) == pytest.approx(2 * 0.5 ** 10)  # 10 discordant pairs, all one way
    assert mcnemar_exact(a, a) == 1.0
    c = np.array([True, False, True, False])
    d = np.array([False, True, False, True])
    assert mcnemar_exact(c, d) == 1.0


def preds(rights, prefix="r"):
    return [{"id": f"{prefix}{i}", "true": {"y": "A"}, "pred": {"y": "A" if ok else "B"}, "raw": "",
             "input_tokens": 1, "output_tokens": 1, "latency_s": 0.1} for i, ok in enumerate(rights)]


def test_paired_difference_uses_the_same_rows():
    ref = preds([True] * 60 + [False] * 40)
    other = list(reversed(preds([True] * 30 + [False] * 70)))  # another order: matched by id
    c = adjust_family({"m": paired(ref, other, ["y"], bootstrap=500, confidence=0.95, seed=0)}, 0.95)["m"]
    assert c["difference"] == pytest.approx(0.3) and c["difference_ci"]["low"] > 0 and c["distinguishable"]
    assert c["only_reference_right"] == 30 and c["only_other_right"] == 0
    same = adjust_family({"m": paired(ref, ref, ["y"], bootstrap=500, confidence=0.95, seed=0)}, 0.95)["m"]
    assert same["difference"] == 0 and not same["distinguishable"]
    assert "not distinguishable from noise" in verdict("t", "finetuned", "zero_shot", same)
    assert "30.0 points more accurate than zero_shot" in verdict("t", "finetuned", "zero_shot", c)
    with pytest.raises(ValueError, match="same test rows"):
        paired(ref, ref[:-1], ["y"], 10, 0.95, 0)


def test_report_cells_carry_their_interval():
    m, _, _ = score_predictions(preds([True] * 7 + [False] * 3), {"y": ["A", "B"]},
                                {"predict_seconds": 1.0, "fit_seconds": 0.0, "train_rows": 5}, 300, 0.95, 0)
    table = render_markdown([{"task": "t", "method": "m", **m}])
    lo, hi = m["accuracy_ci"]["low"], m["accuracy_ci"]["high"]
    assert f"70.0% [{lo:.1%}".rstrip("%") in table and f"–{hi:.1%}]" in table
