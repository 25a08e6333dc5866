"""The growth chart of docs/BENCHMARKS.md: how each scale-dependent cost grows with the data.

Reads bench/results/latest.json (written by `make bench`) and writes docs/benchmarks-growth.svg:
one line per scale-dependent benchmark, its cost at each scale relative to its cost at the
smallest scale, against the number of evidence items, both axes logarithmic. Costs are the
figures as measured (ms), or 1/rate for rates (req/s, entries/s), so "up" always means "dearer".
Grey guides show flat (constant cost) and linear growth. Plain SVG written here: Plotly's static
export needs kaleido and a browser, which the offline build does not have.

Usage: python bench/growth_chart.py [results.json] [out.svg]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
RATES = ("req/s", "entries/s", "/s")
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22", "#393b79", "#637939", "#e7298a", "#66a61e", "#a6761d", "#000000"]  # fmt: skip
W, H, LEFT, RIGHT, TOP, BOTTOM = 1040, 640, 70, 480, 40, 60


def series(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """name -> [(evidence, relative cost)] for rows measured at two scales or more."""
    by_name: dict[str, dict[int, float]] = {}
    for r in rows:
        scale = r.get("scale")
        if (
            scale not in EVIDENCE
            or not r.get("value")
            or r.get("benchmark") == "generate_scale"
            or r["name"].startswith("generate_scale")
        ):
            continue
        value = float(r["value"])
        cost = 1 / value if any(r["unit"].endswith(u) for u in RATES) else value
        by_name.setdefault(r["name"], {})[EVIDENCE[scale]] = cost
    out = {}
    for name, points in by_name.items():
        if len(points) < 2:
            continue
        base_n = min(points)
        out[name] = [(n, points[n] / points[base_n]) for n in sorted(points)]
    return out


def svg(data: dict[str, list[tuple[int, float]]]) -> str:
    xs = [math.log10(n) for n in EVIDENCE.values()]
    ratios = [v for pts in data.values() for _n, v in pts] + [1.0, 100.0]
    y_lo = math.floor(math.log10(min(ratios) * 0.8) * 2) / 2
    y_hi = math.ceil(math.log10(max(ratios) * 1.2) * 2) / 2
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(n: float) -> float:
        return LEFT + (math.log10(n) - xs[0]) / (xs[-1] - xs[0]) * pw

    def py(v: float) -> float:
        return TOP + (y_hi - math.log10(v)) / (y_hi - y_lo) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">Cost relative to the 10k-evidence data set '
           '(log–log)</text>']  # fmt: skip
    # grid and axes
    for n, label in zip(EVIDENCE.values(), EVIDENCE, strict=True):
        x = px(n)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{label} evidence</text>')
    e = y_lo
    while e <= y_hi + 1e-9:
        y = py(10**e)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">×{10**e:.3g}</text>')
        e += 0.5
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    # guides: flat and linear
    n0, n1 = list(EVIDENCE.values())[0], list(EVIDENCE.values())[-1]
    out.append(f'<line x1="{px(n0):.1f}" y1="{py(1):.1f}" x2="{px(n1):.1f}" y2="{py(1):.1f}" stroke="#999" '
               'stroke-dasharray="6 4"/>')  # fmt: skip
    out.append(f'<line x1="{px(n0):.1f}" y1="{py(1):.1f}" x2="{px(n1):.1f}" y2="{py(n1 / n0):.1f}" stroke="#999" '
               'stroke-dasharray="2 4"/>')  # fmt: skip
    out.append(f'<text x="{px(n1) - 4:.1f}" y="{py(1) - 6:.1f}" text-anchor="end" fill="#777">flat</text>')
    if py(n1 / n0) >= TOP:
        out.append(f'<text x="{px(n1) - 4:.1f}" y="{py(n1 / n0) + 14:.1f}" text-anchor="end" fill="#777">'
                   'linear in the data</text>')  # fmt: skip
    for i, (name, pts) in enumerate(sorted(data.items())):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(n):.1f},{py(v):.1f}" for j, (n, v) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n, v in pts:
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}"/>')
        ly = TOP + 10 + i * 33
        out.append(f'<line x1="{W - RIGHT + 20}" y1="{ly}" x2="{W - RIGHT + 40}" y2="{ly}" stroke="{colour}" '
                   'stroke-width="3"/>')  # fmt: skip
        label = name if len(name) <= 62 else name[:60] + "…"
        out.append(f'<text x="{W - RIGHT + 46}" y="{ly + 4}">{escape(label)}</text>')
        out.append(f'<text x="{W - RIGHT + 46}" y="{ly + 18}" fill="#666">×{pts[-1][1]:.2g} at '
                   f'{pts[-1][0]:,} evidence</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else ROOT / "bench" / "results" / "latest.json"
    dst = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "benchmarks-growth.svg"
    data = series(json.loads(src.read_text())["rows"])
    if not data:
        print("no benchmark was measured at two scales or more", file=sys.stderr)
        return 1
    dst.write_text(svg(data))
    print(f"wrote {dst} ({len(data)} series)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
