"""The one palette of every chart: colours that stay apart under colour blindness, plus a second cue.

Colours come from the Okabe-Ito set (Okabe & Ito 2008, "Color Universal Design"), chosen so that no
two colours of one chart fall close together under simulated protanopia, deuteranopia or tritanopia
(tests/dashboard/test_chart_palette.py checks it with the Machado 2009 matrices). Colour never carries
a status alone: every status also has a bar pattern (Plotly `marker.pattern.shape`) and a marker
symbol, and legends keep the status names. Plain data, no Django: any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Okabe-Ito, by the names its authors give.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
NEUTRAL = "#F0F0F0"  # "nothing here": an empty calendar day
NOT_ASSESSED = "#DDDDDD"  # light grey: nothing was checked, so no hue that could read as a verdict


@dataclass(frozen=True)
class Style:
    """How one status is drawn: fill colour, bar pattern ("" is solid), marker symbol and line dash."""

    colour: str
    pattern: str
    symbol: str
    dash: str = "solid"


# Control status (apps.policy ResultStatus, plus "not-assessed" for controls no rule or document assesses).
CONTROL_STATUS = {
    "pass": Style(OKABE_ITO["bluish_green"], "", "circle"),
    "excepted": Style(OKABE_ITO["blue"], "/", "diamond"),
    "missing": Style(OKABE_ITO["orange"], ".", "triangle-up"),
    "fail": Style(OKABE_ITO["vermillion"], "x", "x"),
    "not-assessed": Style(NOT_ASSESSED, "-", "circle-open"),
}

# How a control is assessed (apps.policy Control.Assessment).
ASSESSMENT = {
    "automated": Style(OKABE_ITO["blue"], "", "circle"),
    "both": Style(OKABE_ITO["sky_blue"], "+", "square"),
    "manual": Style(OKABE_ITO["reddish_purple"], "\\", "diamond"),
    "none": Style(NOT_ASSESSED, "-", "circle-open"),
}

# Risk tiers (apps.inventory RiskTier and apps.exceptions Tier share the values).
RISK_TIER = {
    "low": Style(OKABE_ITO["sky_blue"], "", "circle"),
    "medium": Style(OKABE_ITO["orange"], ".", "square"),
    "high": Style(OKABE_ITO["vermillion"], "/", "triangle-up"),
    "critical": Style(OKABE_ITO["black"], "x", "x"),
}

# Unordered series (one line per framework): colour, dash and marker symbol change together.
SERIES = (
    Style(OKABE_ITO["blue"], "", "circle", "solid"),
    Style(OKABE_ITO["vermillion"], "/", "square", "dash"),
    Style(OKABE_ITO["bluish_green"], ".", "diamond", "dot"),
    Style(OKABE_ITO["orange"], "x", "triangle-up", "dashdot"),
    Style(OKABE_ITO["reddish_purple"], "\\", "x", "longdash"),
    Style(OKABE_ITO["sky_blue"], "+", "star", "longdashdot"),
    Style(OKABE_ITO["black"], "-", "cross", "2px,4px,8px,4px"),
)

# Counts on a calendar: neutral at zero, then Paul Tol's colour-blind-safe YlOrBr ramp.
COUNT_RAMP = ("#FEE391", "#FB9A29", "#CC4C02", "#662506")


def count_scale(zmax: int) -> list[list]:
    """A Plotly colorscale for whole counts from 0 to `zmax` (at least 1): neutral up to half a count, so
    zero cells and the colour bar's zero read as "none", then the ramp from 1 to `zmax`."""
    zmax = max(1, zmax)
    start = 0.5 / zmax
    steps = len(COUNT_RAMP) - 1
    ramp = [[round(start + (1 - start) * i / steps, 4), colour] for i, colour in enumerate(COUNT_RAMP)]
    ramp[-1][0] = 1.0  # Plotly wants the scale to end at exactly 1
    return [[0, NEUTRAL], [round(start, 4), NEUTRAL], *ramp]


def bar_marker(style: Style) -> dict:
    """A bar trace's marker: the status colour with its pattern drawn over it (legend shows both)."""
    return {"color": style.colour, "pattern": {"shape": style.pattern, "fillmode": "overlay", "solidity": 0.3}}


def bars_marker(styles: list[Style]) -> dict:
    """One trace whose bars each have their own status (colour and pattern per bar)."""
    return {
        "color": [s.colour for s in styles],
        "pattern": {"shape": [s.pattern for s in styles], "fillmode": "overlay", "solidity": 0.3},
    }
