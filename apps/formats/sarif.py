"""SARIF 2.1.0 static-analysis results (ruff, CodeQL, Semgrep, Bandit, ...).

Scanners say how bad a result is in different places; `normalise_severity` puts every
result on one scale (critical, high, medium, low, none) and keeps where the value came
from and what it said. The mapping table is in docs/policy-fact-model.md.
"""

from __future__ import annotations

from collections import Counter

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
    arr,
    guard,
    iso,
    json_type,
    load_json_object,
    number,
    obj,
    parse_datetime,
    plural,
    text,
)

LABEL = "SARIF"
LEVELS = ("error", "warning", "note", "none")
HIGH_SEVERITY = 7.0  # GitHub code scanning maps security-severity >= 7.0 to "high"
SEVERITIES = ("critical", "high", "medium", "low", "none")
# GitHub code scanning's documented bands for security-severity (a CVSS-like score):
# over 9.0 critical, 7.0 to 8.9 high, 4.0 to 6.9 medium, 0.1 to 3.9 low.
SCORE_BANDS = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"))
# Bandit's issue_severity property (its SARIF also sets level: HIGH error, MEDIUM warning, LOW note).
NAMED_SEVERITY = {"HIGH": "high", "MEDIUM": "medium", "LOW": "low"}
# What a level means when nothing more specific is given; GitHub fails a check on
# "error" as it does on "high", so the two stand level.
LEVEL_SEVERITY = {"error": "high", "warning": "medium", "note": "low", "none": "none"}


def _score_severity(score: float) -> str:
    for floor, name in SCORE_BANDS:
        if score >= floor:
            return name
    return "low" if score > 0 else "none"


def normalise_severity(props: dict, rule_props: dict, level: str) -> tuple[str, str, str, str]:
    """(severity, source, original value, confidence) of one result, most specific source first.

    1. `security-severity` on the result, else on its rule (CodeQL, GitHub code scanning,
       Trivy, Grype, Snyk Open Source; any tool that writes it), banded as GitHub does;
    2. Bandit's `issue_severity` (HIGH, MEDIUM, LOW), with `issue_confidence` kept;
    3. the result's level (already resolved from the rule's `defaultConfiguration.level`,
       else "warning"): error high, warning medium, note low, none none (Semgrep, ESLint,
       ruff, Checkov, Snyk Code).
    A value that is not understood (a non-numeric security-severity, UNDEFINED) falls
    through to the next source rather than lowering anything.
    """
    confidence = text(props.get("issue_confidence"), 20)
    raw = props.get("security-severity", rule_props.get("security-severity"))
    score = number(raw)
    if score is not None and score >= 0:
        return _score_severity(score), "security-severity", text(raw, 20), confidence
    named = props.get("issue_severity", rule_props.get("issue_severity"))
    if isinstance(named, str) and named.strip().upper() in NAMED_SEVERITY:
        return NAMED_SEVERITY[named.strip().upper()], "issue_severity", text(named, 20), confidence
    return LEVEL_SEVERITY[level], "level", level, confidence


def _level(value, where: str) -> str:
    if value not in LEVELS:
        raise ParseError(f"{LABEL}: {where} {text(value, 40)!r} is not one of {', '.join(LEVELS)}")
    return value


def _rules_of(component: dict, where: str) -> list[dict]:
    rules = arr(component.get("rules"), f"{where}.rules", LABEL)
    return [r if isinstance(r, dict) else {} for r in rules]


def _location(result: dict) -> str:
    locations = result.get("locations")
    if not isinstance(locations, list) or not locations or not isinstance(locations[0], dict):
        return ""
    physical = locations[0].get("physicalLocation")
    if not isinstance(physical, dict):
        return ""
    artifact = physical.get("artifactLocation")
    uri = text(artifact.get("uri"), 400) if isinstance(artifact, dict) else ""
    region = physical.get("region")
    line = region.get("startLine") if isinstance(region, dict) else None
    if isinstance(line, int) and not isinstance(line, bool) and uri:
        return f"{uri}:{line}"
    return uri


def _is_suppressed(result: dict) -> bool:
    # SARIF 3.35: a result is suppressed if any suppression is accepted (status absent = accepted).
    suppressions = result.get("suppressions")
    if not isinstance(suppressions, list):
        return False
    return any(isinstance(s, dict) and s.get("status", "accepted") == "accepted" for s in suppressions)


class _Tally:
    """What `parse_sarif` counts over every result of every run."""

    def __init__(self) -> None:
        self.level_counts = Counter({level: 0 for level in LEVELS})
        self.severity_counts = Counter({severity: 0 for severity in SEVERITIES})
        self.blocking_high_sources: Counter = Counter()
        self.rule_counts: Counter = Counter()
        self.security_high = self.suppressed = self.absent = self.high = 0
        self.blocking_errors = self.blocking_high = 0
        self.tools: list[dict] = []
        self.locations: list[str] = []
        self.records: list[dict] = []
        self.times: list = []

    def count(self, record: dict, *, rule_id: str, is_absent: bool) -> None:
        """Count one result record (see `_result_record`) and keep it."""
        level, severity, source = record["level"], record["severity"], record["severity_source"]
        is_high = severity in ("critical", "high")
        self.level_counts[level] += 1
        self.severity_counts[severity] += 1
        self.rule_counts[rule_id or "(no rule id)"] += 1
        self.high += is_high
        security_severity = record["security_severity"]
        self.security_high += security_severity is not None and security_severity >= HIGH_SEVERITY
        self.suppressed += record["suppressed"]
        self.absent += is_absent
        if not record["suppressed"] and not is_absent:
            self.blocking_errors += level == "error"
            if is_high:
                self.blocking_high += 1
                if source == "security-severity":
                    self.blocking_high_sources[f"security-severity >= {HIGH_SEVERITY}"] += 1
                elif source != "level":  # level error: already in the error-level count
                    self.blocking_high_sources[f"{source} {record['severity_original']}"] += 1
        if record["location"] and len(self.locations) < MAX_LIST:
            self.locations.append(record["location"])
        self.records.append(record)

    def verdict(self) -> tuple[str, str]:
        """(verdict, reason): fail on any open error-level or high/critical result."""
        if self.blocking_errors or self.blocking_high:
            parts = []
            if self.blocking_errors:
                parts.append(plural(self.blocking_errors, "error-level result"))
            if self.blocking_high_sources:
                said = ", ".join(f"{source}: {count}" for source, count in sorted(self.blocking_high_sources.items()))
                parts.append(f"{sum(self.blocking_high_sources.values())} of high or critical severity ({said})")
            return "fail", ", ".join(parts)
        if sum(self.level_counts.values()) == 0:
            return "pass", "no results"
        return "pass", (
            f"no open error-level results ({plural(self.level_counts['warning'], 'warning')}, "
            f"{plural(self.level_counts['note'], 'note')})"
        )


def _run_components(tool: dict, driver: dict, where: str) -> list[list[dict]]:
    """The rules of the driver, then those of each extension (the order `toolComponent.index` counts in)."""
    components = [_rules_of(driver, f"{where}.tool.driver")]
    for ext_index, ext in enumerate(arr(tool.get("extensions"), f"{where}.tool.extensions", LABEL)):
        ext_where = f"{where}.tool.extensions[{ext_index}]"
        components.append(_rules_of(obj(ext, ext_where, LABEL), ext_where))
    return components


def _rules_by_id(components: list[list[dict]]) -> dict[str, dict]:
    rules_by_id: dict[str, dict] = {}
    for rules in components:
        for rule in rules:
            rule_id = rule.get("id")
            if isinstance(rule_id, str):
                rules_by_id.setdefault(rule_id, rule)
    return rules_by_id


def _invocation_times(run: dict, where: str) -> list:
    times = []
    for invocation in arr(run.get("invocations"), f"{where}.invocations", LABEL):
        if isinstance(invocation, dict):
            stamp = parse_datetime(invocation.get("endTimeUtc")) or parse_datetime(invocation.get("startTimeUtc"))
            if stamp:
                times.append(stamp)
    return times


def _resolve_rule(result: dict, components: list[list[dict]], rules_by_id: dict[str, dict]) -> tuple[dict, str]:
    """(rule, rule id) of a result: by `ruleIndex` in its tool component, else by `ruleId` (or its prefix)."""
    rule = None
    rule_ref = result.get("rule") if isinstance(result.get("rule"), dict) else {}
    rule_id = result.get("ruleId")
    if not isinstance(rule_id, str):
        rule_id = rule_ref.get("id") if isinstance(rule_ref.get("id"), str) else ""
    rule_index = result.get("ruleIndex", rule_ref.get("index"))
    if isinstance(rule_index, int) and not isinstance(rule_index, bool):
        component_index = 0
        tc = rule_ref.get("toolComponent")
        if isinstance(tc, dict) and isinstance(tc.get("index"), int):
            component_index = tc["index"] + 1  # extensions follow the driver
        if 0 <= component_index < len(components) and 0 <= rule_index < len(components[component_index]):
            rule = components[component_index][rule_index]
            if not rule_id and isinstance(rule.get("id"), str):
                rule_id = rule["id"]
    if rule is None and rule_id:
        rule = rules_by_id.get(rule_id) or rules_by_id.get(rule_id.split("/", 1)[0])
    return rule or {}, rule_id


def _result_level(result: dict, rule: dict, rule_id: str, rwhere: str, where: str, default_levels: dict) -> str:
    """The result's level, else "none" for a non-failing kind, else its rule's default, else "warning"."""
    if "level" in result:
        return _level(result["level"], f"{rwhere}.level")
    if result.get("kind", "fail") != "fail":
        return "none"
    config = rule.get("defaultConfiguration")
    if not (isinstance(config, dict) and "level" in config):
        return "warning"
    key = id(rule)
    if key not in default_levels:
        default_levels[key] = _level(config["level"], f"{where} rule {text(rule_id, 80)!r} defaultConfiguration.level")
    return default_levels[key]


def _result_record(result: dict, rule: dict, rule_id: str, level: str, *, run_index: int, tool_name: str) -> dict:
    """One result as the record kept in the evidence."""
    props = result.get("properties") if isinstance(result.get("properties"), dict) else {}
    rule_props = rule.get("properties") if isinstance(rule.get("properties"), dict) else {}
    security_severity = number(props.get("security-severity", rule_props.get("security-severity")))
    severity, severity_source, severity_original, confidence = normalise_severity(props, rule_props, level)
    message = result.get("message")
    return {
        "run": run_index,
        "tool": tool_name,
        "rule_id": text(rule_id, 200),
        "level": level,
        "message": text(message.get("text") if isinstance(message, dict) else None),
        "location": _location(result),
        "severity": severity,
        "severity_source": severity_source,
        "severity_original": severity_original,
        "confidence": confidence,
        "security_severity": security_severity,
        "suppressed": _is_suppressed(result),
        "baseline_state": text(result.get("baselineState"), 20),
    }


def _tally_run(tally: _Tally, run, run_index: int) -> None:
    """Count the results of one run, resolving each result's rule and level."""
    where = f"runs[{run_index}]"
    run = obj(run, where, LABEL, required=True)
    tool = obj(run.get("tool"), f"{where}.tool", LABEL, required=True)
    driver = obj(tool.get("driver"), f"{where}.tool.driver", LABEL, required=True)
    tool_name = text(driver.get("name"), 200) or "unknown tool"
    tool_version = text(driver.get("semanticVersion") or driver.get("version"), 100)
    components = _run_components(tool, driver, where)
    rules_by_id = _rules_by_id(components)
    default_levels: dict[int, str] = {}
    tally.times.extend(_invocation_times(run, where))
    results = arr(run.get("results"), f"{where}.results", LABEL)
    for index, result in enumerate(results):
        rwhere = f"{where}.results[{index}]"
        if not isinstance(result, dict):
            raise ParseError(f"{LABEL}: {rwhere} must be an object, got {json_type(result)}")
        rule, rule_id = _resolve_rule(result, components, rules_by_id)
        level = _result_level(result, rule, rule_id, rwhere, where, default_levels)
        record = _result_record(result, rule, rule_id, level, run_index=run_index, tool_name=tool_name)
        tally.count(record, rule_id=rule_id, is_absent=result.get("baselineState") == "absent")
    tally.tools.append({"name": tool_name, "version": tool_version, "results": len(results)})


@guard(LABEL)
def parse_sarif(body: bytes) -> ParseResult:
    """Results by level per tool, with rule ids and locations; one record per result.

    A result's level is its own `level`, else its rule's `defaultConfiguration.level`,
    else "warning" (SARIF 3.27.10); results whose `kind` is not "fail" default to
    "none". Suppressed results and results whose `baselineState` is "absent" are
    counted but do not decide the verdict. Each result gets a normalised `severity`
    (see `normalise_severity`) next to the value it came from; `high_severity` counts
    the results of high or critical severity. Verdict fail if any remaining result is
    error-level or of high or critical severity.
    """
    doc = load_json_object(body, LABEL)
    version = doc.get("version")
    if version != "2.1.0":
        raise ParseError(f"{LABEL}: version is {text(version, 40)!r}; only SARIF 2.1.0 is supported")
    runs = arr(doc.get("runs"), "runs", LABEL, required=True)

    tally = _Tally()
    for run_index, run in enumerate(runs):
        _tally_run(tally, run, run_index)

    total = sum(tally.level_counts.values())
    verdict, reason = tally.verdict()
    effective_at = max(tally.times) if tally.times else None
    tool_names = ", ".join(dict.fromkeys(t["name"] for t in tally.tools)) or "no tool"
    summary = {
        "tools": tally.tools[:MAX_LIST],
        "runs": len(runs),
        "results_total": total,
        "by_level": dict(tally.level_counts),
        "suppressed": tally.suppressed,
        "baseline_absent": tally.absent,
        "high_severity": tally.high,
        "by_severity": dict(tally.severity_counts),
        "security_severity_high": tally.security_high,
        "rules_total": len(tally.rule_counts),
        "rules": [{"id": rule_id, "results": count} for rule_id, count in tally.rule_counts.most_common(MAX_LIST)],
        "locations": tally.locations,
        "scanned_at": iso(effective_at),
    }
    title = f"Scan: {text(tool_names, 120)}: {plural(total, 'result')}, {tally.level_counts['error']} error-level"
    evidence = EvidenceFacts(
        kind="sast-scan",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=[],
        summary=summary,
        records=tally.records,
    )
    return ParseResult(format="sarif", evidence=[evidence])
