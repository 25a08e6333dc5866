"""Charts for the PDF as small, self-contained SVG documents, written here.

The pack is built offline by a worker: no browser, no network, no kaleido. Plotly's static
export needs kaleido (a bundled Chromium), which is not installed, so the summary's two
chart types (horizontal bars and a line over time) are drawn directly as SVG vectors.
WeasyPrint renders them as vector graphics, so they stay sharp when printed or zoomed.
Charts take plain numbers and run no queries.
"""

from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape

from apps.common.palette import CONTROL_STATUS

FONT = "DejaVu Sans, sans-serif"
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#d9dee4"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(rows: list[tuple[str, float, str]], *, width: int = 480, bar: int = 16, gap: int = 8,
              label_width: int = 150, unit: str = "") -> str:
    """Horizontal bars: rows of (label, value, colour). Values are written at the bar's end."""
    height = max(1, len(rows)) * (bar + gap) + gap
    top = max((value for _, value, _ in rows), default=0) or 1
    span = width - label_width - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="10">'
    ]
    for i, (label, value, colour) in enumerate(rows):
        y = gap + i * (bar + gap)
        length = max(0.0, span * value / top)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar * 0.72:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(str(label))}</text>"
        )
        parts.append(f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(
            f'<text x="{label_width + length + 5:.1f}" y="{y + bar * 0.72:.1f}" fill="{MUTED}">'
            f"{escape(_num(value))}{escape(unit)}</text>"
        )
    parts.append(
        f'<line x1="{label_width}" y1="0" x2="{label_width}" y2="{height}" stroke="{GRID}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(points: list[tuple[str, float]], *, width: int = 480, height: int = 170,
               colour: str = "#1d4e89") -> str:
    """A line over labelled steps (months): axis with a few labels, points marked, the peak named."""
    left, right, top, bottom = 36, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="9">'
    ]
    peak = max((v for _, v in points), default=0) or 1
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" fill="{MUTED}">{_num(peak * fraction)}</text>'
        )
    if points:
        step = plot_w / max(1, len(points) - 1)
        coords = [
            (left + (i * step if len(points) > 1 else plot_w / 2), top + plot_h * (1 - value / peak))
            for i, (_, value) in enumerate(points)
        ]
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        for x, y in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{colour}"/>')
        every = max(1, len(points) // 6)
        for i, (label, _) in enumerate(points):
            if i % every == 0 or i == len(points) - 1:
                x = coords[i][0]
                anchor = "end" if i == len(points) - 1 and len(points) > 1 else "middle"  # the last stays inside
                parts.append(
                    f'<text x="{x:.1f}" y="{height - 10}" text-anchor="{anchor}" fill="{MUTED}">{escape(label)}</text>'
                )
    else:
        parts.append(
            f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" fill="{MUTED}">No evidence</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def time_chart(points: list[tuple[date, float]], *, width: int = 480, height: int = 170,
               colour: str = "#1d4e89") -> str:
    """Columns over a real time axis: each point (a month, as its first day) placed by its date, so a gap
    of ten months looks like ten months, not like one step. Ticks name the months, at most seven."""
    left, right, top, bottom = 36, 16, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="9">'
    ]
    points = sorted(points)
    peak = max((v for _, v in points), default=0) or 1
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" fill="{MUTED}">{_num(peak * fraction)}</text>'
        )
    if not points:
        parts.append(
            f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" fill="{MUTED}">No evidence</text>'
        )
        parts.append("</svg>")
        return "".join(parts)
    first, last = points[0][0], points[-1][0]
    span = max(1, (last - first).days)

    def x_of(day: date) -> float:
        return left + (plot_w * (day - first).days / span if last != first else plot_w / 2)

    # Month ticks: every month when few, else evenly spaced whole months; the last month always, dropping
    # a tick that would print over it.
    months = (last.year - first.year) * 12 + last.month - first.month
    every = max(1, -(-months // 6))
    ticks = []
    tick = first
    while tick <= last:
        ticks.append(tick)
        total = tick.month - 1 + every
        tick = date(tick.year + total // 12, total % 12 + 1, 1)
    if ticks[-1] != last:
        while len(ticks) > 1 and x_of(last) - x_of(ticks[-1]) < 60:
            ticks.pop()
        ticks.append(last)
    for day in ticks:
        x = x_of(day)
        anchor = "end" if day == last and last != first else "start" if day == first and last != first else "middle"
        parts.append(f'<line x1="{x:.1f}" y1="{top + plot_h:.1f}" x2="{x:.1f}" y2="{top + plot_h + 3:.1f}" '
                     f'stroke="{MUTED}"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="{anchor}" fill="{MUTED}">'
                     f"{day:%Y-%m}</text>")
    # One column per month at its place in time (a month without evidence is no column, not a line
    # drawn across it), its count marked on top.
    bar = max(2.0, min(14.0, plot_w * 28 / span))
    base = top + plot_h
    for day, value in points:
        x, y = x_of(day), top + plot_h * (1 - value / peak)
        left_edge = min(max(x - bar / 2, left), width - right - bar)
        parts.append(f'<rect x="{left_edge:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{base - y:.1f}" '
                     f'fill="{colour}" fill-opacity="0.8"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)


def coverage_gauge(coverage: float | None, *, width: int = 480, height: int = 26) -> str:
    """One bar split into covered and not covered, with the percentage."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="10">',
        f'<rect x="0" y="4" width="{width - 60}" height="14" fill="#e7ebef"/>',
    ]
    if coverage is not None:
        covered = CONTROL_STATUS["pass"].colour
        parts.append(f'<rect x="0" y="4" width="{(width - 60) * coverage:.1f}" height="14" fill="{covered}"/>')
        label = f"{coverage * 100:.0f}%"
    else:
        label = "n/a"
    parts.append(f'<text x="{width - 52}" y="15" fill="{INK}">{label}</text></svg>')
    return "".join(parts)
