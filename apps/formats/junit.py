"""JUnit XML test reports (pytest --junitxml, Maven Surefire, Jest, go-junit-report...)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from .base import (
    MAX_LIST,
    EvidenceFacts,
    ParseError,
    ParseResult,
    capped,
    guard,
    iso,
    number,
    parse_datetime,
    plural,
    text,
)
from .xmlsafe import local_name, parse_xml

LABEL = "JUnit"


def _status(case: Element) -> tuple[str, str]:
    """('failed'|'errored'|'skipped'|'passed', message) from a <testcase>'s children."""
    for child in case:
        tag = local_name(child.tag)
        if tag == "failure":
            return "failed", child.get("message") or (child.text or "").strip()
        if tag == "error":
            return "errored", child.get("message") or (child.text or "").strip()
    for child in case:
        if local_name(child.tag) == "skipped":
            return "skipped", child.get("message") or ""
    return "passed", ""


def _int_attr(element: Element, name: str) -> int:
    value = number(element.get(name))
    return int(value) if value is not None and value >= 0 else 0


@guard(LABEL)
def parse_junit(body: bytes) -> ParseResult:
    """Totals, failing tests and suites of a JUnit XML report.

    Counts come from the <testcase> elements when there are any (suite attributes are
    often wrong after reruns), including those directly under <testsuites> (node's
    reporter); a report with only suite attributes uses those. The
    earliest suite `timestamp` is the evidence date; zone-less timestamps are UTC.
    """
    root = parse_xml(body, LABEL)
    root_tag = local_name(root.tag)
    if root_tag not in ("testsuites", "testsuite"):
        raise ParseError(f"{LABEL}: the root element is <{root_tag}>, expected <testsuites> or <testsuite>")

    suites = [root] if root_tag == "testsuite" else []
    if root_tag == "testsuites" and any(local_name(child.tag) == "testcase" for child in root):
        # node's test reporter writes top-level tests straight under <testsuites>: they count too
        suites.append(root)
    suites += [el for el in root.iter() if el is not root and local_name(el.tag) == "testsuite"]

    counts = {"passed": 0, "failed": 0, "skipped": 0, "errored": 0}
    failing: list[str] = []
    records: list[dict] = []
    suite_rows: list[dict] = []
    timestamps = []
    suite_time_total = 0.0
    for suite in suites:
        suite_name = suite.get("name") or ""
        suite_counts = {"tests": 0, "failed": 0, "errored": 0, "skipped": 0}
        direct_cases = [child for child in suite if local_name(child.tag) == "testcase"]
        for case in direct_cases:
            status, message = _status(case)
            counts[status] += 1
            suite_counts["tests"] += 1
            if status != "passed":
                suite_counts[status] += 1
            classname = case.get("classname") or ""
            name = case.get("name") or ""
            full_name = f"{classname}::{name}" if classname else name
            if status in ("failed", "errored") and len(failing) < MAX_LIST:
                failing.append(text(full_name, 300))
            records.append(
                {
                    "suite": text(suite_name, 300),
                    "classname": text(classname, 300),
                    "name": text(name, 300),
                    "status": status,
                    "time": number(case.get("time")),
                    "message": text(message),
                }
            )
        if not direct_cases and not any(local_name(c.tag) == "testsuite" for c in suite):
            # A suite that only carries totals (no testcase children).
            tests, failures = _int_attr(suite, "tests"), _int_attr(suite, "failures")
            errors, skipped = _int_attr(suite, "errors"), _int_attr(suite, "skipped") or _int_attr(suite, "disabled")
            counts["failed"] += failures
            counts["errored"] += errors
            counts["skipped"] += skipped
            counts["passed"] += max(tests - failures - errors - skipped, 0)
            suite_counts.update(tests=tests, failed=failures, errored=errors, skipped=skipped)
        stamp = parse_datetime(suite.get("timestamp"))
        if stamp:
            timestamps.append(stamp)
        suite_time = number(suite.get("time"))
        if suite_time is not None and (direct_cases or suite is root):
            suite_time_total += suite_time
        if direct_cases or suite_counts["tests"]:
            suite_rows.append({"name": text(suite_name, 300), **suite_counts, "time": suite_time})

    root_stamp = parse_datetime(root.get("timestamp"))
    if root_stamp:
        timestamps.append(root_stamp)
    total = sum(counts.values())
    bad = counts["failed"] + counts["errored"]
    root_time = number(root.get("time"))
    duration = root_time if root_time is not None else (suite_time_total or None)

    if total == 0:
        verdict, reason = "info", "the report contains no tests"
    elif bad:
        verdict = "fail"
        parts = []
        if counts["failed"]:
            parts.append(f"{counts['failed']} failed")
        if counts["errored"]:
            parts.append(f"{counts['errored']} errored")
        reason = f"{' and '.join(parts)} of {plural(total, 'test')}"
    elif counts["passed"] == 0:
        verdict, reason = "info", f"{plural(counts['skipped'], 'test')} skipped, none run"
    else:
        verdict = "pass"
        reason = f"all {plural(counts['passed'], 'test')} passed" + (
            f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
        )

    report_name = root.get("name") or (suites[0].get("name") if suites else "") or "JUnit report"
    effective_at = min(timestamps) if timestamps else None
    summary = {
        "report_name": text(report_name, 300),
        "tests": total,
        **counts,
        "time_seconds": duration,
        "timestamp": iso(effective_at),
        "suites_total": len(suite_rows),
        "suites": capped(suite_rows),
        "failing_tests_total": bad,
        "failing_tests": failing,
    }
    title = f"Tests: {text(report_name, 120)}: {total} run, {bad} failed"
    evidence = EvidenceFacts(
        kind="test-report",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=effective_at,
        subjects=[],
        summary=summary,
        records=records,
    )
    return ParseResult(format="junit", evidence=[evidence])
