"""Selector output in, Plotly figure dicts out (the apps/dashboard/charts.py pattern). No queries here."""

from __future__ import annotations

from datetime import timedelta

from apps.common.palette import RISK_TIER, bar_marker, count_scale
from apps.exceptions.tiers import Tier

_LAYOUT = {
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 13},
}
_CONFIG = {"displayModeBar": False, "responsive": True}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def exception_aging_chart(aging: dict) -> dict:
    """Stacked bars: open and active exceptions per age bracket (days since submitted), by tier."""
    return {
        "data": [
            {
                "type": "bar",
                "name": Tier(tier).label,
                "x": aging["buckets"],
                "y": aging["counts"][tier],
                "marker": bar_marker(RISK_TIER[tier]),
                "hovertemplate": f"{Tier(tier).label}, %{{x}}: %{{y}} exceptions<extra></extra>",
            }
            for tier in aging["tiers"]
        ],
        "layout": {
            **_LAYOUT,
            "barmode": "stack",
            "height": 280,
            "margin": {"l": 50, "r": 10, "t": 10, "b": 90},
            "xaxis": {"title": {"text": "Age since submitted (days)"}},
            "yaxis": {"title": {"text": "Exceptions (count)"}, "rangemode": "tozero", "dtick": 1},
            "legend": {"orientation": "h", "y": -0.45},
        },
        "config": _CONFIG,
    }


def exception_calendar_rows(calendar: dict) -> list[dict]:
    """The calendar as rows per week (the table alternative and the heatmap share them)."""
    rows = []
    for week in range(calendar["weeks"]):
        monday = calendar["start"] + timedelta(weeks=week)
        days = []
        for offset in range(7):
            day = monday + timedelta(days=offset)
            refs = calendar["per_day"].get(day, [])
            days.append({"day": day, "count": len(refs), "refs": refs, "today": day == calendar["today"]})
        rows.append({"monday": monday, "days": days, "total": sum(d["count"] for d in days)})
    return rows


def exception_calendar_chart(calendar: dict) -> dict:
    """Heatmap calendar: weeks across, weekdays down, colour = exceptions expiring that day."""
    rows = exception_calendar_rows(calendar)
    z = [[row["days"][wd]["count"] for row in rows] for wd in range(7)]
    text = [[", ".join(row["days"][wd]["refs"]) or "none" for row in rows] for wd in range(7)]
    dates = [[row["days"][wd]["day"].isoformat() for row in rows] for wd in range(7)]
    busiest = max((count for week in z for count in week), default=0)
    return {
        "data": [
            {
                "type": "heatmap",
                "x": [row["monday"].isoformat() for row in rows],  # a date axis: weeks placed in time
                "y": WEEKDAYS,
                "z": z,
                "text": text,
                "customdata": dates,
                "colorscale": count_scale(busiest),  # zero is the neutral colour, then a colour-blind-safe ramp
                # zmax of at least 1: with nothing expiring, an automatic range of [0, 0] drew every day
                # in the top colour (dark red); now an empty calendar looks empty.
                "zmin": 0,
                "zmax": max(1, busiest),
                "xgap": 3,
                "ygap": 3,
                "colorbar": {"title": {"text": "Expiring (count)"}, "thickness": 12, "dtick": max(1, -(-busiest // 6))},
                "hovertemplate": "%{customdata}: %{z} expiring (%{text})<extra></extra>",
            }
        ],
        "layout": {
            **_LAYOUT,
            "height": 260,
            "margin": {"l": 45, "r": 10, "t": 10, "b": 60},
            "xaxis": {"title": {"text": "Week starting (UTC)"}, "side": "bottom", "type": "date",
                      "tickformat": "%d %b"},
            "yaxis": {"autorange": "reversed"},
        },
        "config": _CONFIG,
    }
