"""Selector output in, Plotly figure dicts out (drawn by static/js/charts.js). No queries here.

Every figure has a title and axis units; the templates put the same numbers in a
<details> table next to it for people who cannot see the chart.
"""

from __future__ import annotations

from apps.common.palette import ASSESSMENT, CONTROL_STATUS, SERIES, bar_marker

_LAYOUT = {
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 13},
}
_CONFIG = {"displayModeBar": False, "responsive": True}


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _stacked_layout(title: str, rows: int) -> dict:
    """Layout of a stacked bar chart per framework. The legend is pinned to the bottom of the figure
    (container coordinates) with room for it to wrap in a narrow card: placed in plot coordinates it
    covered the axis title and, wrapped, the plot itself."""
    return {
        "title": {"text": title},
        "barmode": "stack",
        "height": 230 + 42 * max(rows, 1),
        "margin": {"l": 150, "r": 10, "t": 40, "b": 170},
        "xaxis": {"title": {"text": "Controls (count)"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "x": 0, "y": 0, "yref": "container", "yanchor": "bottom"},
    }


def _framework_bars(frameworks, series, styles: dict, title: str) -> dict:
    """Stacked horizontal bars, one per framework, one trace per (key, attribute, name) of `series`."""
    labels = [f.title if len(f.title) <= 38 else f.code.upper() for f in frameworks]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "y": labels,
            "x": [getattr(f, attr) for f in frameworks],
            "marker": bar_marker(styles[key]),
            "hovertemplate": "%{y}: %{x} controls " + name.lower() + "<extra></extra>",
        }
        for key, attr, name in series
    ]
    return {"data": data, "layout": {**_LAYOUT, **_stacked_layout(title, len(frameworks))}, "config": _CONFIG}


def coverage_by_framework(frameworks) -> dict:
    """Stacked horizontal bars: per framework, every control by status (counted over systems), with the
    controls that have no applicable result as "Not assessed", apart from failing and never as passing."""
    series = (
        ("pass", "passing", "Passing"),
        ("excepted", "excepted", "Excepted"),
        ("missing", "missing", "Missing evidence"),
        ("fail", "failing", "Failing"),
        ("not-assessed", "not_assessed", "Not assessed"),
    )
    return _framework_bars(frameworks, series, CONTROL_STATUS, "Controls by status, per framework")


def assessment_by_framework(frameworks) -> dict:
    """Stacked horizontal bars: per framework, every control (counted over systems) by how it is assessed:
    rules only, rules and manual evidence, manual evidence only, or neither (not assessed)."""
    shown = [f for f in frameworks if f.both is not None]  # past rollups without the split are left out
    series = (
        ("automated", "automated_only", "Automated (rules)"),
        ("both", "both", "Automated and manual"),
        ("manual", "manual_only", "Manual (documents)"),
        ("none", "unmapped", "Neither"),
    )
    return _framework_bars(shown, series, ASSESSMENT, "How controls are assessed, per framework")


def coverage_trend(trend: dict[str, list], *, title: str) -> dict:
    """One line per framework: coverage (% of applicable controls passing or excepted) per day."""
    data = []
    for i, (code, points) in enumerate(sorted(trend.items())):
        style = SERIES[i % len(SERIES)]  # colour, dash and symbol together: a line reads without colour
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": code.upper(),
                "x": [day.isoformat() for day, _ in points],
                "y": [_pct(cov) for _, cov in points],
                "line": {"color": style.colour, "width": 2, "dash": style.dash},
                # a symbol on at most 12 points of a long series: enough to tell the lines apart
                "marker": {"color": style.colour, "symbol": style.symbol, "size": 7, "maxdisplayed": 12},
                "hovertemplate": code.upper() + " %{x}: %{y}%<extra></extra>",
                "connectgaps": False,
            }
        )
    return {
        "data": data,
        "layout": {
            **_LAYOUT,
            "title": {"text": title},
            "height": 330,
            "margin": {"l": 50, "r": 10, "t": 40, "b": 90},
            "yaxis": {"title": {"text": "Coverage (%)"}, "range": [0, 100]},
            "xaxis": {"title": {"text": "Day (UTC)"}, "type": "date"},
            "legend": {"orientation": "h", "y": -0.45},
        },
        "config": _CONFIG,
    }


def top_failing_controls(rows: list[dict]) -> dict:
    """Bars: systems failing or missing evidence, per control (worst first)."""
    labels = [r["control"].label if r["control"] else r["control_id"] for r in rows][::-1]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Failing",
                "y": labels,
                "x": [r["failing_systems"] for r in rows][::-1],
                "marker": bar_marker(CONTROL_STATUS["fail"]),
                "hovertemplate": "%{y}: failing on %{x} systems<extra></extra>",
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "Missing evidence",
                "y": labels,
                "x": [r["missing_systems"] for r in rows][::-1],
                "marker": bar_marker(CONTROL_STATUS["missing"]),
                "hovertemplate": "%{y}: evidence missing on %{x} systems<extra></extra>",
            },
        ],
        "layout": {
            **_LAYOUT,
            "title": {"text": "Top failing controls"},
            "barmode": "stack",
            "height": 90 + 28 * max(len(rows), 1),
            "margin": {"l": 130, "r": 10, "t": 40, "b": 40},
            "xaxis": {"title": {"text": "Systems (count)"}, "dtick": 1, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": -0.3},
        },
        "config": _CONFIG,
    }


def trend_table(trend: dict[str, list]) -> dict:
    """The trend as a table for <details>: one row per day, one column per framework, in percent."""
    codes = sorted(trend)
    by_day: dict = {}
    for code in codes:
        for day, cov in trend[code]:
            by_day.setdefault(day, {})[code] = cov
    rows = [
        [day.isoformat()] + [("—" if values.get(c) is None else f"{_pct(values[c]):.0f}") for c in codes]
        for day, values in sorted(by_day.items(), reverse=True)
    ]
    return {"columns": [c.upper() for c in codes], "rows": rows}
