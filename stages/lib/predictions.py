"""The part every prediction stage shares: fit a classifier on a task's train/val, predict the requested splits,
write one JSONL line per record and a .meta.json with timings and what ran."""
from __future__ import annotations

from stages.lib import paths
from stages.lib.files import read_json, read_jsonl, write_json, write_jsonl
from stages.lib.methods.base import Classifier, Timer, plan_run


def task_data(task: str, splits: list[str]) -> dict[str, list[dict]]:
    return {s: read_jsonl(paths.task_split(task, s)) for s in {"train", "val", *splits}}


def task_labels(task: str) -> dict[str, list[str]]:
    return read_json(paths.task_labels(task))


class Serial:
    """One process: predict all rows here (see `sharding.DataParallel` for several)."""
    is_main = True

    def map(self, fn, records: list) -> list:
        return fn(records)


def fit_predict_write(clf: Classifier, task: str, method: str, splits: list[str], parallel=None,
                      val_rows: int | None = None) -> None:
    """`val_rows`: predict only the first that many validation rows (the split is already in seeded random order;
    `evaluate.val_rows`: where confidences are recalibrated and thresholds chosen); None: all of them."""
    parallel = parallel or Serial()
    data = task_data(task, splits)
    clf.fit(data["train"], data["val"])
    if val_rows is not None and "val" in splits:  # fitted on the whole split, predicted on its first rows
        data = {**data, "val": data["val"][:val_rows]}
    plan_run(clf, [r for split in splits for r in data[split]])  # one estimate and budget for every split
    for split in splits:
        with Timer() as t:
            preds = parallel.map(clf.predict, data[split])
        if len(preds) != len(data[split]):  # a failure is never a result
            raise RuntimeError(f"{task}/{method} {split}: {len(preds)} predictions for {len(data[split])} rows")
        if not parallel.is_main:
            continue
        truncated = sum(bool(p.get("truncated")) for p in preds)
        write_jsonl(paths.predictions(task, method, split), preds)
        write_json(paths.predictions_meta(task, method, split),
                   {"fit_seconds": clf.fit_seconds_, "fit_cost_usd": getattr(clf, "fit_cost_usd_", None),
                    "fit_flops": getattr(clf, "fit_flops_", None),
                    "predict_seconds": t.seconds, "n": len(preds),
                    "train_rows": clf.train_rows_, **clf.describe()})
        print(f"{task}/{method} {split}: {len(preds)} predictions in {t.seconds:.1f}s"
              + (f"; {truncated} inputs truncated to the model's input budget" if truncated else ""))
