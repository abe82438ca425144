"""The pull request's regression gate: every method in `report.gate`, on every task, against the base branch on the
same test rows (metrics/rows/<task>/<method>.json, git-tracked): the accuracy change with a paired bootstrap
interval and an exact McNemar p, Holm-adjusted across all the gated pairs. Exits 1 when a gated method is
significantly less accurate, unless --accept is given (the PR carries the `accept-regression` label): then it
passes and says what it accepted.

python .github/regression_gate.py origin/main [--accept] > gate.md   (from the repository root; BASE is a commit,
or a directory holding the base's metrics/rows)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from metrics_comment import at_base as at_commit  # noqa: E402  (this directory: the comment's own git reader)

from stages.lib import paths  # noqa: E402
from stages.lib.config import load_params  # noqa: E402
from stages.lib.intervals import holm  # noqa: E402
from stages.lib.scoring import paired_outcomes  # noqa: E402

LABEL = "accept-regression"


def at_base(base: str, path: Path) -> dict | None:
    if Path(base).is_dir():
        return json.loads((Path(base) / path).read_text()) if (Path(base) / path).exists() else None
    return at_commit(base, path)


def outcomes(rows: dict) -> dict:
    return dict(zip(rows["ids"], (c == "1" for c in rows["correct"]), strict=True))


def compare(base: str) -> tuple[list[dict], list[str], float]:
    """(gated pairs with their paired comparison and Holm-adjusted p, notes on pairs that could not be gated,
    alpha)."""
    params = load_params()
    cfg, pairs, notes = params.evaluate, [], []
    for task in params.report.tasks:
        for method in params.report.gate:
            path = paths.eval_rows(task, method)
            head = json.loads(path.read_text()) if path.exists() else None
            old = at_base(base, path)
            if head is None or old is None:
                notes.append(f"{task}/{method}: no row outcomes {'here' if head is None else 'at the base'}, "
                             "not gated")
                continue
            h, b = outcomes(head), outcomes(old)
            common = [i for i in h if i in b]
            if not common:
                notes.append(f"{task}/{method}: no test row in common with the base, not gated")
                continue
            c = paired_outcomes(np.array([h[i] for i in common]), np.array([b[i] for i in common]),
                                cfg.bootstrap, cfg.confidence, params.seed)
            pairs.append({"task": task, "method": method, "base": float(np.mean([b[i] for i in common])),
                          "head": float(np.mean([h[i] for i in common])), **c})
    for pair, p in zip(pairs, holm([c["mcnemar_p"] for c in pairs]), strict=True):
        pair["mcnemar_p_holm"] = p
    return pairs, notes, 1 - cfg.confidence


def worse(pairs: list[dict], alpha: float) -> list[dict]:
    return [c for c in pairs if c["mcnemar_p_holm"] < alpha and c["difference_ci"]["high"] < 0]


def render(pairs: list[dict], notes: list[str], alpha: float, accept: bool) -> tuple[str, int]:
    failed = worse(pairs, alpha)
    lines = ["## Regression gate", "",
             "Each gated method against the base branch on the same test rows (exact match): the change with its "
             f"paired bootstrap interval, and the exact McNemar p, Holm-adjusted over the {len(pairs)} gated pairs.",
             "", "| task | method | rows | base → head | change (interval) | McNemar p (Holm) |",
             "|---|---|---:|---|---|---:|"]
    for c in pairs:
        ci = c["difference_ci"]
        mark = " ✗" if c in failed else ""
        lines.append(f"| {c['task']} | {c['method']} | {c['n']} | {c['base']:.1%} → {c['head']:.1%} | "
                     f"{100 * c['difference']:+.1f} pts ({100 * ci['low']:+.1f} to {100 * ci['high']:+.1f}){mark} | "
                     f"{c['mcnemar_p_holm']:.3g} |")
    lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    for c in failed:
        lines.append(f"**{c['method']} is significantly less accurate on {c['task']}**: {100 * c['difference']:+.1f} "
                     f"points ({c['base']:.1%} → {c['head']:.1%} on {c['n']} rows), Holm-adjusted McNemar "
                     f"p={c['mcnemar_p_holm']:.3g}.")
    if not failed:
        lines.append(f"Passes: no gated method is significantly less accurate than on the base (α={alpha:g}).")
        return "\n".join(lines), 0
    if accept:
        lines.append(f"Accepted by the `{LABEL}` label: the check passes with the drop(s) above.")
        return "\n".join(lines), 0
    lines.append(f"The check fails. A reviewer who accepts the drop adds the label `{LABEL}` to the pull request.")
    return "\n".join(lines), 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the base commit (e.g. origin/main) or a directory with its metrics/rows")
    parser.add_argument("--accept", action="store_true", help=f"the PR carries the `{LABEL}` label")
    args = parser.parse_args()
    text, code = render(*compare(args.base), accept=args.accept)
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
