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

    level_counts = Counter({level: 0 for level in LEVELS})
    severity_counts = Counter({severity: 0 for severity in SEVERITIES})
    blocking_high_sources: Counter = Counter()
    security_high = 0
    rule_counts: Counter = Counter()
    tools: list[dict] = []
    locations: list[str] = []
    records: list[dict] = []
    suppressed = absent = high = 0
    blocking_errors = blocking_high = 0
    times = []
    for run_index, run in enumerate(runs):
        where = f"runs[{run_index}]"
        run = obj(run, where, LABEL, required=True)
        tool = obj(run.get("tool"), f"{where}.tool", LABEL, required=True)
        driver = obj(tool.get("driver"), f"{where}.tool.driver", LABEL, required=True)
        tool_name = text(driver.get("name"), 200) or "unknown tool"
        tool_version = text(driver.get("semanticVersion") or driver.get("version"), 100)
        components = [_rules_of(driver, f"{where}.tool.driver")]
        for ext_index, ext in enumerate(arr(tool.get("extensions"), f"{where}.tool.extensions", LABEL)):
            components.append(
                _rules_of(
                    obj(ext, f"{where}.tool.extensions[{ext_index}]", LABEL), f"{where}.tool.extensions[{ext_index}]"
                )
            )
        rules_by_id: dict[str, dict] = {}
        for rules in components:
            for rule in rules:
                rule_id = rule.get("id")
                if isinstance(rule_id, str):
                    rules_by_id.setdefault(rule_id, rule)
        default_levels: dict[int, str] = {}
        for invocation in arr(run.get("invocations"), f"{where}.invocations", LABEL):
            if isinstance(invocation, dict):
                stamp = parse_datetime(invocation.get("endTimeUtc")) or parse_datetime(invocation.get("startTimeUtc"))
                if stamp:
                    times.append(stamp)

        results = arr(run.get("results"), f"{where}.results", LABEL)
        run_count = 0
        for index, result in enumerate(results):
            rwhere = f"{where}.results[{index}]"
            if not isinstance(result, dict):
                raise ParseError(f"{LABEL}: {rwhere} must be an object, got {json_type(result)}")
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
            rule = rule or {}

            if "level" in result:
                level = _level(result["level"], f"{rwhere}.level")
            elif result.get("kind", "fail") != "fail":
                level = "none"
            else:
                config = rule.get("defaultConfiguration")
                if isinstance(config, dict) and "level" in config:
                    key = id(rule)
                    if key not in default_levels:
                        default_levels[key] = _level(
                            config["level"], f"{where} rule {text(rule_id, 80)!r} defaultConfiguration.level"
                        )
                    level = default_levels[key]
                else:
                    level = "warning"

            props = result.get("properties") if isinstance(result.get("properties"), dict) else {}
            rule_props = rule.get("properties") if isinstance(rule.get("properties"), dict) else {}
            security_severity = number(props.get("security-severity", rule_props.get("security-severity")))
            severity, severity_source, severity_original, confidence = normalise_severity(props, rule_props, level)
            is_high = severity in ("critical", "high")
            is_suppressed = _is_suppressed(result)
            is_absent = result.get("baselineState") == "absent"
            level_counts[level] += 1
            severity_counts[severity] += 1
            run_count += 1
            rule_counts[rule_id or "(no rule id)"] += 1
            if is_high:
                high += 1
            if security_severity is not None and security_severity >= HIGH_SEVERITY:
                security_high += 1
            if is_suppressed:
                suppressed += 1
            if is_absent:
                absent += 1
            if not is_suppressed and not is_absent:
                if level == "error":
                    blocking_errors += 1
                if is_high:
                    blocking_high += 1
                    if severity_source == "security-severity":
                        blocking_high_sources[f"security-severity >= {HIGH_SEVERITY}"] += 1
                    elif severity_source != "level":  # level error: already in the error-level count
                        blocking_high_sources[f"{severity_source} {severity_original}"] += 1
            location = _location(result)
            if location and len(locations) < MAX_LIST:
                locations.append(location)
            message = result.get("message")
            records.append(
                {
                    "run": run_index,
                    "tool": tool_name,
                    "rule_id": text(rule_id, 200),
                    "level": level,
                    "message": text(message.get("text") if isinstance(message, dict) else None),
                    "location": location,
                    "severity": severity,
                    "severity_source": severity_source,
                    "severity_original": severity_original,
                    "confidence": confidence,
                    "security_severity": security_severity,
                    "suppressed": is_suppressed,
                    "baseline_state": text(result.get("baselineState"), 20),
                }
            )
        tools.append({"name": tool_name, "version": tool_version, "results": run_count})

    total = sum(level_counts.values())
    if blocking_errors or blocking_high:
        verdict = "fail"
        parts = []
        if blocking_errors:
            parts.append(plural(blocking_errors, "error-level result"))
        if blocking_high_sources:
            said = ", ".join(f"{source}: {count}" for source, count in sorted(blocking_high_sources.items()))
            parts.append(f"{sum(blocking_high_sources.values())} of high or critical severity ({said})")
        reason = ", ".join(parts)
    else:
        verdict = "pass"
        if total == 0:
            reason = "no results"
        else:
            reason = (
                f"no open error-level results ({plural(level_counts['warning'], 'warning')}, "
                f"{plural(level_counts['note'], 'note')})"
            )
    effective_at = max(times) if times else None
    tool_names = ", ".join(dict.fromkeys(t["name"] for t in tools)) or "no tool"
    summary = {
        "tools": tools[:MAX_LIST],
        "runs": len(runs),
        "results_total": total,
        "by_level": dict(level_counts),
        "suppressed": suppressed,
        "baseline_absent": absent,
        "high_severity": high,
        "by_severity": dict(severity_counts),
        "security_severity_high": security_high,
        "rules_total": len(rule_counts),
        "rules": [{"id": rule_id, "results": count} for rule_id, count in rule_counts.most_common(MAX_LIST)],
        "locations": locations,
        "scanned_at": iso(effective_at),
    }
    title = f"Scan: {text(tool_names, 120)}: {plural(total, 'result')}, {level_counts['error']} error-level"
    evidence = EvidenceFacts(
        kind="sast-scan",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=[],
        summary=summary,
        records=records,
    )
    return ParseResult(format="sarif", evidence=[evidence])
