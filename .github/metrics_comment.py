"""The pull-request comment: the headline metrics of every task x method against the base branch, each change
flagged when it falls outside the base's confidence interval, plus the paired comparisons in plain words.

python .github/metrics_comment.py origin/main > comment.md   (run from the repository root)
Reads metrics/eval/<task>/<method>.json here and at the base commit (git show); timings are not compared, so a
rerun that changed nothing shows no change.
"""
import json
import subprocess
import sys
from pathlib import Path

FIGURES = [  # a dotted key reads inside a figure: accuracy_at_coverage.80 is accuracy_at_coverage["80"]
    ("accuracy", "accuracy", "{:.1%}"),
    ("ece", "ECE", "{:.3f}"),
    ("accuracy_at_coverage.80", "acc @80% most confident", "{:.1%}"),
    ("coverage_at_target", "answered at target acc.", "{:.0%}"),
    ("macro_f1", "macro-F1", "{:.3f}"),
    ("invalid_rate", "invalid", "{:.1%}"),
    ("cost_per_million", "$ / 1M", "{:,.2f}"),
]


def at_base(base: str, path: Path) -> dict | None:
    proc = subprocess.run(["git", "show", f"{base}:{path.as_posix()}"], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def get(metrics: dict | None, key: str):
    """metrics[key], or for a dotted key the figure inside: `a.b` is metrics["a"]["b"] (None where absent)."""
    head, _, inner = key.partition(".")
    value = (metrics or {}).get(head)
    return value.get(inner) if inner and isinstance(value, dict) else value


def interval_key(key: str) -> str:
    head, dot, inner = key.partition(".")
    return f"{head}_ci{dot}{inner}"


def cell(key: str, fmt: str, now: dict, old: dict | None) -> tuple[str, bool]:
    value, before = get(now, key), get(old, key)
    if value is None:
        return "—", False
    text = fmt.format(value)
    if before is None or fmt.format(before) == text:  # unchanged at the precision shown
        return text, False
    ci = get(old, interval_key(key))
    outside = bool(ci) and not ci["low"] <= value <= ci["high"]
    return f"{fmt.format(before)} → **{text}**" + (" ⚠" if outside else ""), outside


def main(base: str) -> None:
    rows, flagged = [], 0
    for path in sorted(Path("metrics/eval").glob("*/*.json")):
        now, old = json.loads(path.read_text()), at_base(base, path)
        cells = [cell(k, fmt, now, old) for k, _, fmt in FIGURES]
        flagged += any(outside for _, outside in cells)
        ci = now.get("accuracy_ci")
        interval = f"[{ci['low']:.1%}–{ci['high']:.1%}]" if ci else "—"
        status = "new" if old is None else ("⚠ outside base interval" if any(o for _, o in cells) else "")
        rows.append(f"| {path.parent.name} | {path.stem} | {now.get('train_rows', '—')} | "
                    + " | ".join(c for c, _ in cells) + f" | {interval} | {status} |")
    print(
        f"## Metrics against `{base}`\n\n{flagged} row(s) with a change outside the base branch's confidence "
        "interval (⚠); others are within noise.\n"
    )
    print("| task | method | train rows | " + " | ".join(h for _, h, _ in FIGURES) + " | accuracy interval now | |")
    print("|" + "---|" * (len(FIGURES) + 5))
    print("\n".join(rows))
    sentences = []
    for path in sorted(Path("metrics/compare").glob("*.json")):
        c = json.loads(path.read_text())
        for method, x in c["against"].items():
            sign = "distinguishable" if x["distinguishable"] else "not distinguishable"
            sentences.append(f"- {path.stem}: {c['reference']} − {method} = {x['difference']:+.1%} "
                             f"[{x['difference_ci']['low']:+.1%} to {x['difference_ci']['high']:+.1%}], "
                             f"McNemar p={x['mcnemar_p']:.3g}: {sign} from noise")
    if sentences:
        print("\n### Paired comparisons (same test rows)\n\n" + "\n".join(sentences))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "origin/main")
