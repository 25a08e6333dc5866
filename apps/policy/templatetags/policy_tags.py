"""Status badges and percentages for policy pages, as filters (an {% include %} per matrix cell costs too much)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()

LABELS = {
    "pass": "✓ Pass",
    "fail": "✗ Fail",
    "missing": "? Missing",
    "excepted": "≈ Excepted",
    "error": "! Error",
    "not-applicable": "– N/A",
}


@register.filter
def status_badge(status: str) -> str:
    """<span class="status status-fail">✗ Fail</span>; empty for no status."""
    if not status:
        return ""
    return format_html('<span class="status status-{}">{}</span>', status, LABELS.get(status, status))


@register.filter
def pct(value) -> str:
    """0.4567 -> "46%"; None -> "—"."""
    if value is None or value == "":
        return "—"
    return f"{round(100 * float(value))}%"
