"""Confusion matrices of one method on one task: rows for DVC's `confusion` plot template, and an SVG."""
from __future__ import annotations

from pathlib import Path

from stages.lib.scoring import INVALID


def confusion_rows(predictions: list[dict], field: str) -> list[dict]:
    """Rows for DVC's `confusion` plot template."""
    return [{"actual": p["true"][field], "predicted": (p["pred"] or {}).get(field) or INVALID} for p in predictions]

# viridis at 0, 1/4, 1/2, 3/4 and 1, interpolated linearly in between
_VIRIDIS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
CELL, FONT = 22, 9  # px


def _colour(x: float) -> str:
    x = min(max(x, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(x), len(_VIRIDIS) - 2)
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return "#" + "".join(f"{round(u + (v - u) * (x - i)):02x}" for u, v in zip(a, b, strict=True))


def confusion_svg(rows: list[dict], path: Path, title: str) -> None:
    """Counts (rows: actual, columns: predicted) as an SVG heat map with its labels, written as text: DVC's plots
    and GitHub show it, and an evaluate stage imports no plotting library (matplotlib's PNG was 0.9 s of 1.1)."""
    from xml.sax.saxutils import escape

    labels = sorted({r["actual"] for r in rows} | {r["predicted"] for r in rows})
    index = {lb: i for i, lb in enumerate(labels)}
    n = len(labels)
    counts = [[0] * n for _ in range(n)]
    for r in rows:
        counts[index[r["actual"]]][index[r["predicted"]]] += 1
    top = max(max(map(max, counts)), 1)
    short = [escape(lb if len(lb) <= 28 else lb[:26] + "…") for lb in labels]
    margin = 8 + int(0.6 * FONT * max(map(len, short), default=1))  # room for the longest tick label
    x0, y0 = margin + 18, 28
    width, height = x0 + n * CELL + 8, y0 + n * CELL + margin + 18
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="{FONT}">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="{FONT + 3}">{escape(title)}</text>']
    for i in range(n):
        for j in range(n):
            v = counts[i][j]
            x, y = x0 + j * CELL, y0 + i * CELL
            out.append(f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{_colour(v / top)}"/>')
            if n <= 25:
                ink = "black" if v > top / 2 else "white"
                out.append(f'<text x="{x + CELL / 2}" y="{y + CELL / 2 + FONT / 3}" text-anchor="middle" '
                           f'fill="{ink}">{v}</text>')
    for i, lb in enumerate(short):  # true labels down the left, predicted labels up the bottom
        out.append(f'<text x="{x0 - 4}" y="{y0 + i * CELL + CELL / 2 + FONT / 3}" text-anchor="end">{lb}</text>')
        bx, by = x0 + i * CELL + CELL / 2 + FONT / 3, y0 + n * CELL + 4
        out.append(f'<text x="{bx}" y="{by}" text-anchor="end" transform="rotate(-90 {bx} {by})">{lb}</text>')
    out.append(f'<text x="{x0 + n * CELL / 2}" y="{height - 4}" text-anchor="middle">Predicted label</text>')
    out.append(f'<text x="10" y="{y0 + n * CELL / 2}" text-anchor="middle" '
               f'transform="rotate(-90 10 {y0 + n * CELL / 2})">True label</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
