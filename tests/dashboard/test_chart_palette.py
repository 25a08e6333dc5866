"""Issue 21, item 5: charts anyone can read, whatever colours they see.

Pure functions in, figure dicts out: no database. The colour-blindness simulation is Machado, Oliveira
and Fernandes 2009 (severity 1.0, applied in linear sRGB, as colorspacious does), the distance CIE76
in CIELAB.
"""

import itertools
import math
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from apps.common import palette
from apps.dashboard.charts import systems_by_risk_tier
from apps.exceptions.charts import exception_aging_chart, exception_calendar_chart
from apps.packs import render
from apps.packs.charts import coverage_gauge
from apps.policy import charts

MACHADO_2009 = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}
MIN_DISTANCE = 15  # CIE76 ΔE: about five "just noticeable differences" on a chart's small areas


def _linear(hex_colour: str) -> list[float]:
    channels = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]


def _simulate(hex_colour: str, deficiency: str | None) -> list[float]:
    rgb = _linear(hex_colour)
    if deficiency is None:
        return rgb
    return [min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb, strict=True)))) for row in MACHADO_2009[deficiency]]


def _lab(rgb: list[float]) -> tuple[float, float, float]:
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def distance(a: str, b: str, deficiency: str | None) -> float:
    return math.dist(_lab(_simulate(a, deficiency)), _lab(_simulate(b, deficiency)))


def test_the_simulation_turns_red_and_green_alike_for_deuteranopes_and_not_for_others():
    # The check below means something only if the simulation does: pure red and green are far apart for
    # everyone but close for a deuteranope.
    assert distance("#FF0000", "#00A000", None) > 80
    assert distance("#CC3300", "#668800", "deuteranopia") < 10


GROUPS = {
    "control status": [s.colour for s in palette.CONTROL_STATUS.values()],
    "assessment": [s.colour for s in palette.ASSESSMENT.values()],
    "risk tier": [s.colour for s in palette.RISK_TIER.values()],
    "series": [s.colour for s in palette.SERIES],
}


@pytest.mark.parametrize("deficiency", [None, "protanopia", "deuteranopia", "tritanopia"])
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_no_two_colours_of_one_chart_fall_close_together_under_colour_blindness(group, deficiency):
    for a, b in itertools.combinations(GROUPS[group], 2):
        assert distance(a, b, deficiency) >= MIN_DISTANCE, (group, deficiency, a, b)


@pytest.mark.parametrize("group", ["CONTROL_STATUS", "ASSESSMENT", "RISK_TIER", "SERIES"])
def test_every_status_has_its_own_pattern_and_symbol(group):
    styles = list(getattr(palette, group).values()) if group != "SERIES" else list(palette.SERIES)
    assert len({s.pattern for s in styles}) == len(styles)
    assert len({s.dash for s in styles}) == len(styles) or group != "SERIES"
    assert len({s.symbol for s in styles}) == len(styles)
    assert len({s.colour for s in styles}) == len(styles)


def _framework(**counts):
    base = {"passing": 3, "excepted": 1, "missing": 2, "failing": 4, "not_assessed": 5,
            "automated_only": 6, "both": 2, "manual_only": 1, "unmapped": 5}
    return SimpleNamespace(title="SOC 2", code="soc2", **{**base, **counts})


def _assert_bars_use(figure: dict, styles: dict, names: dict[str, str]) -> None:
    """Every bar trace is named for its status and drawn in the palette's colour and pattern for it."""
    traces = {t["name"]: t for t in figure["data"]}
    assert set(traces) == set(names.values())
    for key, name in names.items():
        marker = traces[name]["marker"]
        assert marker["color"] == styles[key].colour, name
        assert marker["pattern"]["shape"] == styles[key].pattern, name
        assert marker["pattern"]["fillmode"] == "overlay", name  # the colour stays under the pattern
    assert len({t["marker"]["pattern"]["shape"] for t in figure["data"]}) == len(names)


def test_the_coverage_chart_draws_each_status_in_its_palette_colour_and_pattern():
    figure = charts.coverage_by_framework([_framework()])
    _assert_bars_use(figure, palette.CONTROL_STATUS, {
        "pass": "Passing", "excepted": "Excepted", "missing": "Missing evidence", "fail": "Failing",
        "not-assessed": "Not assessed"})
    assert "controls" in figure["layout"]["xaxis"]["title"]["text"].lower()


def test_the_assessment_chart_draws_each_way_of_assessing_in_its_palette_colour_and_pattern():
    figure = charts.assessment_by_framework([_framework()])
    _assert_bars_use(figure, palette.ASSESSMENT, {
        "automated": "Automated (rules)", "both": "Automated and manual", "manual": "Manual (documents)",
        "none": "Neither"})
    assert "controls" in figure["layout"]["xaxis"]["title"]["text"].lower()


def test_the_top_failing_chart_draws_failing_and_missing_in_their_palette_colour_and_pattern():
    row = {"control": None, "control_id": "ac-2", "failing_systems": 2, "missing_systems": 1}
    figure = charts.top_failing_controls([row])
    _assert_bars_use(figure, palette.CONTROL_STATUS, {"fail": "Failing", "missing": "Missing evidence"})


def test_the_risk_tier_chart_gives_each_tier_its_palette_colour_and_pattern():
    marker = systems_by_risk_tier({"low": 2, "high": 1})["data"][0]["marker"]
    tiers = ["low", "medium", "high", "critical"]
    assert marker["color"] == [palette.RISK_TIER[t].colour for t in tiers]
    assert marker["pattern"]["shape"] == [palette.RISK_TIER[t].pattern for t in tiers]
    assert len(set(marker["pattern"]["shape"])) == 4


def test_the_exception_aging_chart_gives_each_tier_its_palette_colour_and_pattern_and_says_days():
    aging = {"buckets": ["0-7 days", "8-30 days"], "tiers": ["low", "medium", "high", "critical"],
             "counts": {t: [1, 0] for t in ["low", "medium", "high", "critical"]}}
    figure = exception_aging_chart(aging)
    _assert_bars_use(figure, palette.RISK_TIER, {"low": "Low", "medium": "Medium", "high": "High",
                                                "critical": "Critical"})
    assert "days" in figure["layout"]["xaxis"]["title"]["text"]
    assert "exceptions" in figure["layout"]["yaxis"]["title"]["text"].lower()


def test_each_trend_line_differs_in_colour_dash_and_symbol_and_the_time_axis_is_dates():
    day = date(2026, 11, 1)
    trend = {code: [(day, 0.5), (day + timedelta(days=1), 0.6)] for code in ["hipaa", "iso27001", "soc2"]}
    figure = charts.coverage_trend(trend, title="Coverage")
    styles = {(t["line"]["color"], t["line"]["dash"], t["marker"]["symbol"]) for t in figure["data"]}
    assert len(styles) == 3
    assert {c for c, _, _ in styles} <= {s.colour for s in palette.SERIES}
    assert figure["layout"]["xaxis"]["type"] == "date"
    assert "%" in figure["layout"]["yaxis"]["title"]["text"]


def _calendar(per_day: dict) -> dict:
    return {"start": date(2026, 11, 30), "weeks": 12, "per_day": per_day, "today": date(2026, 12, 6)}


def test_an_empty_expiry_calendar_is_drawn_in_the_neutral_colour_not_red():
    trace = exception_calendar_chart(_calendar({}))["data"][0]
    assert trace["zmin"] == 0
    assert trace["zmax"] >= 1  # all-zero z no longer spans the whole scale (every day was dark red)
    assert trace["colorscale"][0] == [0, palette.NEUTRAL]
    assert trace["colorscale"][1] == [0.5, palette.NEUTRAL]  # the colour bar's zero is neutral too
    assert all(count == 0 for row in trace["z"] for count in row)


def test_the_expiry_calendar_scales_to_the_busiest_day_and_places_weeks_on_a_date_axis():
    figure = exception_calendar_chart(_calendar({date(2026, 12, 8): ["EXC-1", "EXC-2", "EXC-3"]}))
    trace = figure["data"][0]
    assert trace["zmax"] == 3
    assert trace["colorscale"][-1] == [1.0, palette.COUNT_RAMP[-1]]  # the busiest day is the darkest
    assert trace["x"][:2] == ["2026-11-30", "2026-12-07"]
    assert figure["layout"]["xaxis"]["type"] == "date"


def test_the_pdf_status_chart_uses_the_same_status_colours_as_the_screen():
    for status in ("pass", "fail", "missing", "excepted"):
        assert render.STATUS_COLOURS[status] == palette.CONTROL_STATUS[status].colour


def test_the_pdf_coverage_gauge_fills_the_covered_part_in_the_passing_colour():
    assert f'fill="{palette.CONTROL_STATUS["pass"].colour}"' in coverage_gauge(0.5)
