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


def _suites(root: Element, root_tag: str) -> list[Element]:
    """Every element whose <testcase> children count: the root when it holds some, then each <testsuite>."""
    suites = [root] if root_tag == "testsuite" else []
    if root_tag == "testsuites" and any(local_name(child.tag) == "testcase" for child in root):
        # node's test reporter writes top-level tests straight under <testsuites>: they count too
        suites.append(root)
    suites += [el for el in root.iter() if el is not root and local_name(el.tag) == "testsuite"]
    return suites


def _case_record(case: Element, suite_name: str) -> dict:
    status, message = _status(case)
    return {
        "suite": text(suite_name, 300),
        "classname": text(case.get("classname") or "", 300),
        "name": text(case.get("name") or "", 300),
        "status": status,
        "time": number(case.get("time")),
        "message": text(message),
    }


def _totals_of(suite: Element) -> dict:
    """The counts of a suite that only carries totals (no testcase children), from its attributes."""
    tests, failures = _int_attr(suite, "tests"), _int_attr(suite, "failures")
    errors, skipped = _int_attr(suite, "errors"), _int_attr(suite, "skipped") or _int_attr(suite, "disabled")
    return {"tests": tests, "failed": failures, "errored": errors, "skipped": skipped}


def _verdict(counts: dict) -> tuple[str, str]:
    total = sum(counts.values())
    if total == 0:
        return "info", "the report contains no tests"
    if counts["failed"] or counts["errored"]:
        parts = []
        if counts["failed"]:
            parts.append(f"{counts['failed']} failed")
        if counts["errored"]:
            parts.append(f"{counts['errored']} errored")
        return "fail", f"{' and '.join(parts)} of {plural(total, 'test')}"
    if counts["passed"] == 0:
        return "info", f"{plural(counts['skipped'], 'test')} skipped, none run"
    return "pass", f"all {plural(counts['passed'], 'test')} passed" + (
        f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
    )


class _Report:
    """What `parse_junit` gathers over the suites."""

    def __init__(self) -> None:
        self.counts = {"passed": 0, "failed": 0, "skipped": 0, "errored": 0}
        self.failing: list[str] = []
        self.records: list[dict] = []
        self.suite_rows: list[dict] = []
        self.timestamps: list = []
        self.suite_time_total = 0.0

    def add_suite(self, suite: Element, *, is_root: bool) -> None:
        suite_name = suite.get("name") or ""
        suite_counts = {"tests": 0, "failed": 0, "errored": 0, "skipped": 0}
        direct_cases = [child for child in suite if local_name(child.tag) == "testcase"]
        for case in direct_cases:
            record = _case_record(case, suite_name)
            status = record["status"]
            self.counts[status] += 1
            suite_counts["tests"] += 1
            if status != "passed":
                suite_counts[status] += 1
            classname, name = case.get("classname") or "", case.get("name") or ""
            if status in ("failed", "errored") and len(self.failing) < MAX_LIST:
                self.failing.append(text(f"{classname}::{name}" if classname else name, 300))
            self.records.append(record)
        if not direct_cases and not any(local_name(c.tag) == "testsuite" for c in suite):
            suite_counts = _totals_of(suite)
            for key in ("failed", "errored", "skipped"):
                self.counts[key] += suite_counts[key]
            self.counts["passed"] += max(
                suite_counts["tests"] - suite_counts["failed"] - suite_counts["errored"] - suite_counts["skipped"], 0
            )
        stamp = parse_datetime(suite.get("timestamp"))
        if stamp:
            self.timestamps.append(stamp)
        suite_time = number(suite.get("time"))
        if suite_time is not None and (direct_cases or is_root):
            self.suite_time_total += suite_time
        if direct_cases or suite_counts["tests"]:
            self.suite_rows.append({"name": text(suite_name, 300), **suite_counts, "time": suite_time})


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

    suites = _suites(root, root_tag)
    report = _Report()
    for suite in suites:
        report.add_suite(suite, is_root=suite is root)
    counts, timestamps = report.counts, report.timestamps
    root_stamp = parse_datetime(root.get("timestamp"))
    if root_stamp:
        timestamps.append(root_stamp)
    total = sum(counts.values())
    bad = counts["failed"] + counts["errored"]
    root_time = number(root.get("time"))
    duration = root_time if root_time is not None else (report.suite_time_total or None)
    verdict, reason = _verdict(counts)

    report_name = root.get("name") or (suites[0].get("name") if suites else "") or "JUnit report"
    effective_at = min(timestamps) if timestamps else None
    summary = {
        "report_name": text(report_name, 300),
        "tests": total,
        **counts,
        "time_seconds": duration,
        "timestamp": iso(effective_at),
        "suites_total": len(report.suite_rows),
        "suites": capped(report.suite_rows),
        "failing_tests_total": bad,
        "failing_tests": report.failing,
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
        records=report.records,
    )
    return ParseResult(format="junit", evidence=[evidence])
