"""Counted cost against measured time: how well the FLOPs that price every choice (stages/lib/counting.py) predict
the seconds this machine measured, per task x method, from the last `dvc repro` here (metrics/eval: counted;
metrics/timings: measured). Writes the FLOP/s each method sustained, the ratio of the fastest to the slowest, and
Spearman's rank agreement between counted FLOPs and measured seconds, per sample and up front.

python -m bench cost_model
"""
from __future__ import annotations

from tabulate import tabulate

from stages.lib import paths
from stages.lib.config import load_params
from stages.lib.files import read_json


def add_arguments(ap) -> None:
    ap.add_argument("--tasks", nargs="*", default=None, help="default: report.tasks")


def pairs(tasks: list[str], methods: list[str]) -> list[dict]:
    out = []
    for t in tasks:
        for m in methods:
            if not (paths.eval_metrics(t, m).exists() and paths.eval_timings(t, m).exists()):
                continue
            head, times = read_json(paths.eval_metrics(t, m)), read_json(paths.eval_timings(t, m))
            out.append({"task": t, "method": m, "flops": head.get("flops_per_sample"), "seconds": times["latency_s"],
                        "fit_flops": head.get("fit_flops"), "fit_seconds": times.get("fit_seconds"),
                        "api": head.get("cost_per_million") is not None})
    return out


def agreement(rows: list[dict], flops: str, seconds: str) -> str:
    from scipy.stats import spearmanr

    ok = [r for r in rows if r[flops] and r[seconds] and not r["api"]]
    if len(ok) < 3:
        return "fewer than three counted and measured rows"
    rho = spearmanr([r[flops] for r in ok], [r[seconds] for r in ok]).statistic
    rates = sorted(r[flops] / r[seconds] for r in ok)
    return (f"Spearman ρ = {rho:.2f} over {len(ok)} task x method rows; sustained FLOP/s from {rates[0]:.3g} to "
            f"{rates[-1]:.3g} ({rates[-1] / rates[0]:.0f}x apart), median {rates[len(rates) // 2]:.3g}")


def run(args) -> None:
    params = load_params()
    rows = pairs(args.tasks or params.report.tasks, params.report.methods)
    table = [[r["task"], r["method"], f"{r['flops']:.3g}" if r["flops"] else "—", f"{r['seconds']:.4f}",
              f"{r['flops'] / r['seconds']:.3g}" if r["flops"] and r["seconds"] else "—",
              f"{r['fit_flops']:.3g}" if r["fit_flops"] else "—",
              f"{r['fit_seconds']:.1f}" if r["fit_seconds"] is not None else "—"] for r in rows]
    print(tabulate(table, headers=["task", "method", "FLOPs/sample (counted)", "s/sample (measured)",
                                   "FLOP/s sustained", "up-front FLOPs", "up-front s"], tablefmt="github"))
    print(f"\nPer sample: {agreement(rows, 'flops', 'seconds')}.")
    print(f"Up front: {agreement(rows, 'fit_flops', 'fit_seconds')}.")
    profile = params.costs.profile()
    print(f"\nThe declared profile `{params.costs.hardware}` ({profile.about}) assumes {profile.flops_per_second:.3g} "
          "FLOP/s; measured times come from whatever load the machine had when each stage ran.")
