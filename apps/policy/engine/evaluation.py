"""Facts as CEL sees them and `evaluate()`: one compiled rule over one subject's facts; nothing raised escapes."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

import cel

from apps.policy.engine.base import BASELINE, FACT_NAMES, CompiledRule, RuleOutcome, _key

# cel logs a WARNING each time a helper function raises; evaluate() already turns that into an
# "error" outcome with the same message, so a broken rule re-run nightly over every subject
# would only flood the worker log. Errors from the library itself still get through.
logging.getLogger("cel").setLevel(logging.ERROR)


# --- facts --------------------------------------------------------------------------


def _as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value:
        raw = value.strip()
        if raw.endswith(("Z", "z")):
            raw = raw[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _plain(value):
    """Facts as CEL can take them: tuples to lists, sets sorted, non-finite floats dropped."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return _as_datetime(value)
    return value


class Facts:
    """Facts for one subject, prepared once and reused by every rule evaluated on it."""

    __slots__ = ("context", "data", "now")

    def __init__(self, facts: Mapping | None = None):
        facts = dict(facts or {})
        now = _as_datetime(facts.get("now")) or datetime.now(UTC)
        evidence = {}
        for kind, item in (facts.get("evidence") or {}).items():
            if not isinstance(item, Mapping):
                continue
            item = _plain(item)
            item.setdefault("kind", kind)
            item.setdefault("summary", {})
            if "id" in item and item["id"] is not None:
                item["id"] = str(item["id"])
            effective = _as_datetime(item.get("effective_at"))
            if effective is not None:
                item["effective_at"] = effective
                item.setdefault("age_days", round((now - effective).total_seconds() / 86400, 4))
            evidence[_key(kind)] = item
        approvals = []
        for row in facts.get("approvals") or []:
            row = _plain(row)
            if isinstance(row, dict) and "at" in row:
                row["at"] = _as_datetime(row["at"]) or row["at"]
            approvals.append(row)
        lineage = {"has_provenance_chain": False, "builders": [], "upstream_kinds": [], "commit": ""}
        lineage.update(_plain(facts.get("lineage") or {}))
        data = {
            **{k: _plain(v) for k, v in facts.items() if k not in FACT_NAMES},
            "subject": _plain(facts.get("subject") or {}),
            "system": _plain(facts.get("system") or {}),
            "evidence": evidence,
            "lineage": lineage,
            "approvals": approvals,
            "baseline": _plain(facts.get("baseline") or {}),
            "now": now,
        }
        self.data = data
        self.now = now
        context = cel.Context()
        for name, value in data.items():
            context.add_variable(name, value)
        context.add_function("age_days", self._age_days)
        context.add_function("distinct", _distinct)
        self.context = context

    def _age_days(self, value) -> float:
        moment = _as_datetime(value)
        if moment is None:
            raise ValueError(f"age_days() needs a timestamp or an ISO 8601 date-time, got {value!r}")
        return (self.now - moment).total_seconds() / 86400

    def has_requirement(self, key: str) -> bool:
        if key == BASELINE:
            return bool(self.data["baseline"])
        return key in self.data["evidence"]

    def evidence_ids(self, keys: Iterable[str]) -> list[str]:
        evidence = self.data["evidence"]
        if "*" in keys:
            keys = list(evidence)
        ids = []
        for key in keys:
            source = self.data["baseline"] if key == BASELINE else (evidence.get(key) or {})
            ev_id = source.get("evidence_id" if key == BASELINE else "id")
            if ev_id not in (None, "") and str(ev_id) not in ids:
                ids.append(str(ev_id))
        return ids


def _distinct(values):
    if not isinstance(values, list):
        raise TypeError(f"distinct() needs a list, got {type(values).__name__}")
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def prepare_facts(facts: Mapping | Facts | None) -> Facts:
    """Normalize a subject's facts once (see FACT_MODEL_DOC); pass the result to evaluate()."""
    return facts if isinstance(facts, Facts) else Facts(facts)


# --- evaluation ---------------------------------------------------------------------


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:59] + "…")
    if isinstance(value, list):
        # Short lists are spelled out, so that a reason names what failed (e.g. the resource
        # addresses of unencrypted buckets); long ones show their first items and a count.
        count = f"{len(value)} item{'s' if len(value) != 1 else ''}"
        if not value:
            return "[0 items]"
        shown, width = [], 0
        for item in value:
            text = _show_item(item)
            if shown and width + len(text) > 200:
                break
            shown.append(text)
            width += len(text) + 2
        more = "" if len(shown) == len(value) else f", … ({count})"
        return "[" + ", ".join(shown) + more + "]"
    if isinstance(value, dict):
        return f"{{{len(value)} field{'s' if len(value) != 1 else ''}}}"
    return str(value)


def _show_item(value) -> str:
    """One element of a list in a reason: scalars as themselves, small maps inline."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_show(v)}" for k, v in list(value.items())[:4])
        return "{" + inner + (", …" if len(value) > 4 else "") + "}"
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    return _show(value)


_ABSENT = object()


def _explain(compiled: CompiledRule, facts: Facts) -> str:
    """The fact values the expression read, e.g. `evidence.sast_scan.summary.high_severity = 3`."""
    shown: list[str] = []
    for label, root, keys in compiled.fact_paths:
        value = facts.data.get(root, _ABSENT)
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                value = _ABSENT
                break
            value = value[key]
        shown.append(f"{label} = {'absent' if value is _ABSENT else _show(value)}")
    return "; ".join(shown)


def _error_reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        return (
            f"no field {key!r} in the facts: check the spelling, list the evidence kind in requires, "
            "or guard it with has()"
        )
    text = " ".join(str(exc).split())
    if isinstance(exc, TypeError) and "No such overload" in text:
        text = "no such overload for these operand types (CEL does not coerce between int, double and string)"
    return text[:300] or type(exc).__name__


def evaluate(compiled: CompiledRule, facts: Mapping | Facts | None) -> RuleOutcome:
    """Run one compiled rule over one subject's facts. Never raises for anything the facts hold."""
    prepared = prepare_facts(facts)
    missing = [key for key in compiled.requires if not prepared.has_requirement(key)]
    if missing:
        words = [
            "no production baseline to compare with" if key == BASELINE else f"no {key.replace('_', '-')} evidence"
            for key in missing
        ]
        return RuleOutcome(
            status="missing",
            passed=None,
            reason="missing evidence: " + ", ".join(words),
            used=prepared.evidence_ids([k for k in compiled.requires if k not in missing]),
            missing=[BASELINE if key == BASELINE else key.replace("_", "-") for key in missing],
        )
    used = prepared.evidence_ids([*compiled.requires, *compiled.evidence_keys])
    try:
        value = compiled.program.execute(prepared.context)
    except Exception as exc:  # noqa: BLE001 - any evaluation failure becomes an "error" outcome
        return RuleOutcome(status="error", passed=False, reason=f"could not evaluate: {_error_reason(exc)}", used=used)
    if not isinstance(value, bool):
        return RuleOutcome(
            status="error",
            passed=False,
            reason=f"the expression produced {_show(value)} ({type(value).__name__}), not true or false",
            used=used,
        )
    detail = _explain(compiled, prepared)
    suffix = f": {detail}" if detail else ""
    if value:
        return RuleOutcome(status="pass", passed=True, reason="satisfied" + suffix, used=used)
    return RuleOutcome(status="fail", passed=False, reason="not satisfied" + suffix, used=used)
