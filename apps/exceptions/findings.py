"""What an exception was approved against, and when that has materially changed. Pure functions.

The frozen state (kept with every approval and with the active exception) lists each
covered control result with its status, evidence ids and the findings its evidence
reports, plus the risk rating and the system's risk tier. A change is *material* when,
while the exception is active:

- a covered result's evidence reports more findings of a kind than any result did when
  approved (high or critical severity, error-level, failed checks or tests), e.g. a new
  scan with more high findings than the approved one;
- the system's risk tier rose.

A new scan with the same or fewer findings, or a result that starts passing, is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

FINDING_KINDS = ("critical", "high", "errors", "failed")
TIER_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def findings_of(summary: Mapping | None) -> dict[str, int]:
    """Finding counts an evidence summary reports, by kind (0 when it says nothing)."""
    summary = summary if isinstance(summary, Mapping) else {}
    out = dict.fromkeys(FINDING_KINDS, 0)
    if not isinstance(summary.get("by_severity"), Mapping):
        # SARIF parsed before severities were normalised: high_severity (security-severity >= 7.0) only.
        # Newer SARIF summaries give by_severity (read below), of which high_severity is critical + high.
        out["high"] += _int(summary.get("high_severity"))
    for key in ("failed_by_severity", "by_severity", "vulnerabilities_by_severity"):
        table = summary.get(key)
        if isinstance(table, Mapping):
            for name, count in table.items():
                name = str(name).lower()
                if name in ("critical", "high"):
                    out[name] += _int(count)
    by_level = summary.get("by_level")
    if isinstance(by_level, Mapping):
        out["errors"] += _int(by_level.get("error"))
    out["failed"] += _int(summary.get("failed")) + _int(summary.get("failing_tests_total"))
    return out


def findings_total(rows: Iterable[Mapping]) -> dict[str, int]:
    """Sum of several evidence items' findings."""
    out = dict.fromkeys(FINDING_KINDS, 0)
    for row in rows:
        for kind in FINDING_KINDS:
            out[kind] += _int(row.get(kind))
    return out


def material_changes(frozen: Mapping, current: Mapping) -> list[str]:
    """Reasons the current state differs materially from the frozen one (empty: not material)."""
    reasons: list[str] = []
    ceiling = dict.fromkeys(FINDING_KINDS, 0)
    for item in frozen.get("results", []):
        for kind in FINDING_KINDS:
            ceiling[kind] = max(ceiling[kind], _int(item.get("findings", {}).get(kind)))
    for item in current.get("results", []):
        if item.get("status") == "pass":
            continue
        for kind in FINDING_KINDS:
            now = _int(item.get("findings", {}).get(kind))
            if now > ceiling[kind]:
                label = {
                    "critical": "critical-severity",
                    "high": "high-severity",
                    "errors": "error-level",
                    "failed": "failed",
                }[kind]
                reasons.append(
                    f"rule {item.get('rule', '?')}: {now} {label} findings now, at most {ceiling[kind]} when approved"
                )
    before, after = frozen.get("system_risk_tier"), current.get("system_risk_tier")
    if before in TIER_RANK and after in TIER_RANK and TIER_RANK[after] > TIER_RANK[before]:
        reasons.append(f"the system's risk tier rose from {before} to {after}")
    return reasons
