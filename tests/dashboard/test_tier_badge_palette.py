"""Issue 21: the HTML risk-tier badges use the charts' palette (apps/common/palette.py, Okabe-Ito), with
text dark or light enough to read on each (WCAG AA, 4.5:1)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from apps.common.palette import RISK_TIER

CSS = Path(settings.BASE_DIR) / "static" / "css" / "portal.css"


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_each_tier_badge_has_its_palette_colour_and_readable_text():
    css = CSS.read_text()
    for tier, style in RISK_TIER.items():
        rule = re.search(rf"\.tier-{tier}\s*\{{([^}}]*)\}}", css)
        assert rule, f".tier-{tier} is missing"
        background = re.search(r"background:\s*(#[0-9A-Fa-f]{6})", rule.group(1))
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9A-Fa-f]{6})", rule.group(1))
        assert background and background.group(1).upper() == style.colour.upper(), tier
        assert colour and _contrast(colour.group(1), style.colour) >= 4.5, tier
