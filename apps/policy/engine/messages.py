"""Failure message templates: `{fact.path}` placeholders checked on save and rendered from the facts."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from apps.policy.engine.base import RuleSyntaxError
from apps.policy.engine.evaluation import _ABSENT, Facts, _show_item
from apps.policy.engine.schema import FACT_SCHEMA, check_paths

# --- failure messages ------------------------------------------------------------------
#
# A rule's `message` is plain text with placeholders naming fact paths, e.g.
# "{evidence.sast_scan.summary.by_level.error} error-level findings in the latest static
# analysis scan; at most 0 allowed". Rendering only looks keys up in the facts' maps: no
# attribute access, no calls, no expressions, so a template cannot reach anything but facts.
# `{path|count}` gives the size of a list or map, `{path|days}` a whole number of days.

MAX_MESSAGE_LENGTH = 500
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDER_BODY_RE = re.compile(r"^\s*([a-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?:\|\s*(count|days))?\s*$")


def check_message(template: str, *, saving: bool = True) -> tuple[str, ...]:
    """Validate a failure message template; RuleSyntaxError for a bad placeholder, warnings as for paths."""
    if not isinstance(template, str):
        raise RuleSyntaxError("the message must be text")
    if len(template) > MAX_MESSAGE_LENGTH:
        raise RuleSyntaxError(f"the message is longer than {MAX_MESSAGE_LENGTH} characters")
    if "\n" in template.strip():
        raise RuleSyntaxError("the message must be one line")
    warnings: list[str] = []
    for match in _PLACEHOLDER_RE.finditer(template):
        body = _PLACEHOLDER_BODY_RE.match(match.group(1))
        if not body or body.group(1).split(".")[0] not in FACT_SCHEMA:
            raise RuleSyntaxError(
                f"message: {match.group(0)} is not a placeholder; write a fact path such as "
                "{evidence.sast_scan.summary.high_severity}, optionally with |count or |days",
                column=match.start() + 1,
            )
        path = body.group(1)
        try:
            warnings.extend(check_paths(path, path))
        except RuleSyntaxError as exc:
            if saving:
                raise RuleSyntaxError(f"message: {exc.message}", column=match.start() + 1) from None
            warnings.append(f"message: {exc.message}")
    if template.count("{") != len(_PLACEHOLDER_RE.findall(template)):
        raise RuleSyntaxError("message: a { is not closed, or braces are nested")
    return tuple(warnings)


def _lookup(data: dict, path: str):
    value = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _plain_text(value) -> str:
    """A fact value as words: numbers as numbers, lists spelled out (the first few), no quotes."""
    if value is _ABSENT or value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dict):
        value = list(value)  # a map reads as its keys (regions, outcomes)
    if isinstance(value, list):
        if not value:
            return "none"
        items = []
        for item in value[:5]:
            if isinstance(item, dict):
                item = next((item[k] for k in ("address", "id", "name", "path") if k in item), None) or _show_item(item)
            items.append(_plain_text(item) if not isinstance(item, str) else item)
        more = f" and {len(value) - 5} more" if len(value) > 5 else ""
        return ", ".join(items) + more
    return str(value)


def render_message(template: str, facts: Facts) -> str:
    """The failure message with the facts filled in (unknown values read "unknown")."""

    def fill(match: re.Match) -> str:
        body = _PLACEHOLDER_BODY_RE.match(match.group(1))
        if not body:
            return match.group(0)
        value = _lookup(facts.data, body.group(1))
        if body.group(2) == "count":
            return str(len(value)) if isinstance(value, (list, dict)) else "unknown"
        if body.group(2) == "days":
            return str(math.floor(value)) if isinstance(value, (int, float)) and math.isfinite(value) else "unknown"
        return _plain_text(value)

    return " ".join(_PLACEHOLDER_RE.sub(fill, template or "").split())[:1000]
