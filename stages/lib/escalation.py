"""A cascade of two methods (FrugalGPT-style): the cheap method answers, and the rows whose confidence is under a
threshold go to the strong method. Everything is computed from the two methods' existing predictions: the threshold
on validation rows, then applied unchanged to test rows, so no new inference is needed to score it.

A method's cost per row is what the report charges it, counted, never timed (stages/lib/counting.py): an API
method's dollars from the API's usage fields at the registry's prices, a local method's counted FLOPs at the
hardware profile `costs.hardware`. So no threshold or choice here moves with the machine's load. The cascade pays
the cheap method on every row and the strong one on the escalated rows only. When one part dominates the other
(at least as accurate on validation and no dearer), the cascade is that part alone, and says so.
"""
from __future__ import annotations

import math

import numpy as np

from stages.lib import counting, paths
from stages.lib.calibration import row_confidence
from stages.lib.config import Params
from stages.lib.errors import PipelineError
from stages.lib.files import read_json, read_jsonl
from stages.lib.scoring import adjust_family, exact_match, paired_outcomes


def row_cost(p: dict, profile, where: str) -> float:
    """One row's dollars: what the API charged for its usage where it carries that, else its counted FLOPs priced
    at `profile`."""
    if p.get("cost_usd") is not None:
        return p["cost_usd"]
    if p.get("flops") is None:
        raise PipelineError(f"{where}: row {p['id']!r} carries no counted work (`flops`); its predictions predate "
                            "counted cost: rerun its prediction stage")
    return counting.price(p["flops"], profile)


def cost_per_row(predictions: list[dict], profile, where: str = "predictions") -> float:
    """Mean dollars per row, counted (see `row_cost`)."""
    return sum(row_cost(p, profile, where) for p in predictions) / max(len(predictions), 1)


def aligned(base: list[dict], other: list[dict], where: str) -> list[dict]:
    """`other`'s predictions in `base`'s row order; every row of `base` must be there."""
    by_id = {p["id"]: p for p in other}
    if missing := [p["id"] for p in base if p["id"] not in by_id]:
        raise PipelineError(f"{where}: no prediction for {len(missing)} row(s), e.g. id {missing[0]!r}")
    return [by_id[p["id"]] for p in base]


def confidences(predictions: list[dict], fields: list[str], where: str) -> np.ndarray:
    conf = [row_confidence(p, fields) for p in predictions]
    if any(c is None for c in conf):
        raise PipelineError(f"{where}: {sum(c is None for c in conf)} row(s) carry no confidence; the cheap method "
                            "of a cascade must give one on every row")
    return np.array(conf, dtype=float)


def choose_threshold(conf: np.ndarray, cheap_right: np.ndarray, strong_right: np.ndarray, cheap_cost: float,
                     strong_cost: float, rule: str, max_cost: float | None) -> dict:
    """On validation rows: the threshold (escalate rows with confidence < it) chosen by `rule`.
    match_strong: the cheapest threshold whose accuracy reaches the strong method's alone (none does: always
    escalate); budget: the most accurate within `max_cost` per million (ties: the cheaper)."""
    candidates = np.unique(np.r_[0.0, conf, math.inf])  # 0: never escalate; inf: always
    options = []
    for t in candidates:
        up = conf < t
        options.append({"threshold": float(t), "escalated": float(up.mean()),
                        "accuracy": float(np.where(up, strong_right, cheap_right).mean()),
                        "cost_per_million": (cheap_cost + up.mean() * strong_cost) * 1e6})
    if rule == "match_strong":
        target = float(strong_right.mean())
        ok = [o for o in options if o["accuracy"] >= target - 1e-12]
        return min(ok, key=lambda o: (o["cost_per_million"], o["threshold"])) if ok else options[-1]
    ok = [o for o in options if o["cost_per_million"] <= max_cost]
    if not ok:
        raise PipelineError(f"cascade: no threshold keeps the cost within {max_cost} USD per million (the cheap "
                            f"method alone costs {options[0]['cost_per_million']:.4g})")
    return max(ok, key=lambda o: (o["accuracy"], -o["cost_per_million"]))


def dominance(cheap_acc: float, strong_acc: float, cheap_cost: float, strong_cost: float) -> str | None:
    """Which part makes the other pointless on validation, if one does: at least as accurate and no dearer."""
    if cheap_acc >= strong_acc and cheap_cost <= strong_cost:
        return "cheap"
    if strong_acc >= cheap_acc and strong_cost <= cheap_cost:
        return "strong"
    return None


def combine(cheap: list[dict], strong: list[dict], escalate: np.ndarray, cheap_cost: float,
            strong_pays: bool, cheap_runs: bool = True) -> list[dict]:
    """The cascade's predictions: each row the cheap method's answer or, where escalated, the strong one's. The
    answering part's confidence is kept as `part_confidence` (not `confidence`: the two parts' are not one scale).
    Where the strong method is an API method, each row's `cost_usd` is the cheap method's machine cost plus, on
    escalated rows, the API's measured dollars. `cheap_runs` False: the strong method alone (it dominates), the
    cheap one neither run nor paid."""
    out = []
    for c, s, up in zip(cheap, strong, escalate, strict=True):
        part, k = (s if up else c), float(cheap_runs)
        row = {"id": c["id"], "true": c["true"], "pred": part["pred"], "raw": part["raw"],
               "input_tokens": k * (c.get("input_tokens") or 0) + ((s.get("input_tokens") or 0) if up else 0),
               "output_tokens": k * (c.get("output_tokens") or 0) + ((s.get("output_tokens") or 0) if up else 0),
               "latency_s": k * c["latency_s"] + (s["latency_s"] if up else 0.0),
               "flops": k * (c.get("flops") or 0.0) + ((s.get("flops") or 0.0) if up else 0.0),
               "answered_by": "strong" if up else "cheap"}
        if (conf := row_confidence(part, list(c["true"]))) is not None:
            row["part_confidence"] = conf
        if strong_pays:
            row["cost_usd"] = k * cheap_cost + ((s.get("cost_usd") or 0.0) if up else 0.0)
        out.append(row)
    return out


def right(predictions: list[dict]) -> np.ndarray:
    return exact_match(predictions, list(predictions[0]["true"])) if predictions else np.zeros(0, bool)


def load(task: str, method: str, split: str) -> tuple[list[dict], dict]:
    path = paths.predictions(task, method, split)
    if not path.exists():
        raise PipelineError(f"{path}: missing; the cascade needs {method}'s {split} predictions "
                            f"(dvc repro {method}@{task})")
    return read_jsonl(path), read_json(paths.predictions_meta(task, method, split))


def build_cascade(params: Params, task: str, method: str) -> tuple[dict, dict, dict]:
    """(predictions per split, meta per split, summary) of the cascade `method` on `task`: the strong part chosen
    (auto: the prompted method most accurate on validation, ties to the cheaper), the threshold chosen on validation
    and applied to both splits, and paired verdicts against each part on test."""
    cfg = params.method(method)
    if cfg.type != "cascade":
        raise PipelineError(f"params.yaml: methods.{method}.type must be cascade for this stage")
    for part in (cfg.cheap, cfg.strong):
        if part != "auto" and (part not in params.report.methods or params.method(part).type == "cascade"):
            raise PipelineError(f"params.yaml: methods.{method}: {part!r} must be a non-cascade method of "
                                "report.methods")
    if params.evaluate.val_rows == 0:
        raise PipelineError(f"params.yaml: methods.{method} chooses its threshold on validation rows: "
                            "evaluate.val_rows must be > 0")
    price, n_val = params.costs.profile(), params.evaluate.val_rows
    fields = list(read_json(paths.task_labels(task)))
    cheap = {s: load(task, cfg.cheap, s) for s in ("val", "test")}
    val_all, val_meta = cheap["val"]  # the first val_rows: the rows every method predicted
    cheap["val"] = (val_all[:n_val], {**val_meta, "predict_seconds": val_meta["predict_seconds"]
                                      * len(val_all[:n_val]) / max(len(val_all), 1)})
    val_ids = cheap["val"][0]
    candidates = ([m for m in params.report.methods if params.method(m).type == "prompt"]
                  if cfg.strong == "auto" else [cfg.strong])
    if not candidates:
        raise PipelineError("params.yaml: methods.cascade.strong is auto but report.methods has no prompted method")
    parts = {}
    for m in candidates:
        (val, val_meta), (test, test_meta) = load(task, m, "val"), load(task, m, "test")
        # the strong method's validation time counts only the rows the cascade uses (zero-shot predicts them all)
        val_meta = {**val_meta, "predict_seconds": val_meta["predict_seconds"] * len(val_ids) / max(len(val), 1)}
        val = aligned(val_ids, val, str(paths.predictions(task, m, "val")))
        parts[m] = {"val": val, "test": aligned(cheap["test"][0], test, str(paths.predictions(task, m))),
                    "val_accuracy": float(right(val).mean()),
                    "cost": cost_per_row(test, price, str(paths.predictions(task, m))),
                    "meta": test_meta, "val_meta": val_meta}
    # auto: the prompted method most accurate on validation (ties: the cheaper)
    strong = max(parts, key=lambda m: (parts[m]["val_accuracy"], -parts[m]["cost"]))
    s = parts[strong]
    c_cost = cost_per_row(cheap["test"][0], price, str(paths.predictions(task, cfg.cheap)))
    c_val_right, s_val_right = right(cheap["val"][0]), right(s["val"])
    conf_val = confidences(cheap["val"][0], fields, str(paths.predictions(task, cfg.cheap, "val")))
    conf_test = confidences(cheap["test"][0], fields, str(paths.predictions(task, cfg.cheap)))
    dominant = dominance(float(c_val_right.mean()), s["val_accuracy"], c_cost, s["cost"])
    chosen = choose_threshold(conf_val, c_val_right, s_val_right, c_cost, s["cost"], cfg.rule,
                              cfg.max_cost_per_million)
    threshold = {"cheap": 0.0, "strong": float("inf")}.get(dominant, chosen["threshold"])
    why = "dominates on validation" if dominant else None
    if dominant is None and threshold == float("inf"):  # every row escalates: running the cheap step buys nothing
        dominant, why = "strong", "no threshold reaches the strong method's validation accuracy for less"
    pays = any(p.get("cost_usd") is not None for p in s["test"])
    out = {}
    for split, strong_rows in (("val", s["val"]), ("test", s["test"])):
        rows = cheap[split][0]
        conf = conf_val if split == "val" else conf_test
        out[split] = combine(rows, strong_rows, conf < threshold, c_cost, pays, cheap_runs=dominant != "strong")
    test_right = right(out["test"])
    verdicts = adjust_family({part: paired_outcomes(test_right, right(rows), params.evaluate.bootstrap,
                                                    params.evaluate.confidence, params.seed)
                              for part, rows in ((cfg.cheap, cheap["test"][0]), (strong, s["test"]))},
                             params.evaluate.confidence)
    escalated = {k: sum(r["answered_by"] == "strong" for r in v) / max(len(v), 1) for k, v in out.items()}
    summary = {
        "cheap": cfg.cheap, "strong": strong, "rule": cfg.rule, "reduces_to": {"cheap": cfg.cheap,
                                                                               "strong": strong}.get(dominant),
        "why": why, "threshold": threshold if threshold != float("inf") else None,
        "val_rows": len(val_ids), "val_accuracy": {"cheap": float(c_val_right.mean()), "strong": s["val_accuracy"],
                                                   "cascade": float(right(out["val"]).mean())},
        "strong_candidates": {m: parts[m]["val_accuracy"] for m in parts},
        "cost_per_million": {"cheap": c_cost * 1e6, "strong": s["cost"] * 1e6},
        "escalated_val": escalated["val"], "escalated_test": escalated["test"], "against": verdicts,
    }
    cheap_meta, metas = cheap["test"][1], {}
    for split in ("val", "test"):
        # the parts' measured times: the cheap method's whole run (where it runs), the strong one's for the
        # escalated share of rows; up-front: each part that runs
        seconds = ((cheap[split][1]["predict_seconds"] if dominant != "strong" else 0.0)
                   + escalated[split] * (s["val_meta"] if split == "val" else s["meta"])["predict_seconds"])
        metas[split] = {
            "fit_seconds": (cheap_meta["fit_seconds"] if dominant != "strong" else 0.0)
                           + (s["meta"]["fit_seconds"] if dominant != "cheap" else 0.0),
            "fit_cost_usd": s["meta"].get("fit_cost_usd") if dominant != "cheap" else None,
            "fit_flops": ((cheap_meta.get("fit_flops") or 0.0) if dominant != "strong" else 0.0)
                         + ((s["meta"].get("fit_flops") or 0.0) if dominant != "cheap" else 0.0),
            "predict_seconds": seconds, "n": len(out[split]),
            "train_rows": max(cheap_meta["train_rows"] if dominant != "strong" else 0,
                              s["meta"]["train_rows"] if dominant != "cheap" else 0),
            "cascade": {"cheap": cfg.cheap, "strong": strong, "threshold": summary["threshold"],
                        "reduces_to": summary["reduces_to"]}}
    return out, metas, summary

