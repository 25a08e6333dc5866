"""Selector output in, Plotly figure dicts out. No queries here."""

from apps.common.palette import RISK_TIER, bars_marker
from apps.inventory.models import RiskTier


def systems_by_risk_tier(counts: dict[str, int]) -> dict:
    """A bar chart of how many systems sit in each risk tier."""
    tiers = RiskTier.values
    # Whole-number ticks, but no more than about six of them: a tick per system is unreadable at 200 systems.
    top = max([counts.get(t, 0) for t in tiers] + [1])
    dtick = max(1, -(-top // 6))
    return {
        "data": [
            {
                "type": "bar",
                "x": [RiskTier(t).label for t in tiers],
                "y": [counts.get(t, 0) for t in tiers],
                "marker": bars_marker([RISK_TIER[t] for t in tiers]),
                "hovertemplate": "%{x}: %{y} systems<extra></extra>",
            }
        ],
        "layout": {
            "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
            "height": 220,
            "yaxis": {"title": {"text": "Systems (count)"}, "dtick": dtick, "rangemode": "tozero"},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "system-ui, sans-serif", "size": 13},
        },
        "config": {"displayModeBar": False, "responsive": True},
    }
