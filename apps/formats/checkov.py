"""Checkov JSON output (`checkov -o json`): one report object, or a list of them per framework.

Each report has `check_type` (terraform, kubernetes, dockerfile, …), `results` with
`passed_checks`, `failed_checks`, `skipped_checks` and `parsing_errors`, and a
`summary` {passed, failed, skipped, parsing_errors, resource_count, checkov_version}.
When Checkov finds nothing to scan it prints only a bare summary object, which is
accepted too. Checkov's SARIF (`-o sarif`) goes through the SARIF parser instead.

One record per check result: {framework, status (passed/failed/skipped), check_id,
check_name, resource, file_path, lines "a-b", severity, guideline, suppress_comment}.

Verdict: fail if any check failed (results, or a summary's failed count when the
results are absent); pass if checks ran and none failed; info if nothing was checked.
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
    load_json,
    number,
    obj,
    plural,
    text,
)

LABEL = "Checkov"
STATUSES = (("passed_checks", "passed"), ("failed_checks", "failed"), ("skipped_checks", "skipped"))
SUMMARY_KEYS = ("passed", "failed", "skipped", "parsing_errors", "resource_count")


def _lines(value) -> str:
    if isinstance(value, list) and len(value) == 2 and all(number(v) is not None for v in value):
        return f"{int(number(value[0]))}-{int(number(value[1]))}"
    return ""


def _count(value) -> int:
    result = number(value) if not isinstance(value, str) else None
    return int(result) if result is not None and 0 <= result < 1e12 else 0


def is_bare_summary(doc: dict) -> bool:
    return "checkov_version" in doc and all(key in doc for key in ("passed", "failed"))


def _reports(data) -> list[dict]:
    if isinstance(data, dict):
        reports = [data]
    elif isinstance(data, list):
        reports = data
    else:
        raise ParseError(f"{LABEL}: expected a report object or a list of reports")
    out = []
    for index, report in enumerate(reports):
        report = obj(report, f"report {index}", LABEL, required=True)
        if not ("check_type" in report or "results" in report or is_bare_summary(report)):
            raise ParseError(
                f"{LABEL}: report {index} has no check_type or results; expected the output of `checkov -o json`"
            )
        out.append(report)
    return out


@guard(LABEL)
def parse_checkov(body: bytes) -> ParseResult:
    """Checks by framework and status, failed checks with their resources; see the module docstring."""
    reports = _reports(load_json(body, LABEL))
    records: list[dict] = []
    frameworks = []
    failed_by_check: Counter = Counter()
    failed_resources: Counter = Counter()
    severities: Counter = Counter()
    versions = set()
    summary_failed = 0
    parsing_errors = 0
    for index, report in enumerate(reports):
        framework = text(report.get("check_type"), 50) or "unknown"
        summary = report if is_bare_summary(report) else obj(report.get("summary"), f"report {index}.summary", LABEL)
        results = obj(report.get("results"), f"report {index}.results", LABEL)
        counts = Counter()
        for key, status in STATUSES:
            for c_index, check in enumerate(arr(results.get(key), f"report {index}.results.{key}", LABEL)):
                check = obj(check, f"report {index}.results.{key}[{c_index}]", LABEL, required=True)
                counts[status] += 1
                result = check.get("check_result") if isinstance(check.get("check_result"), dict) else {}
                record = {
                    "framework": framework,
                    "status": status,
                    "check_id": text(check.get("check_id"), 100),
                    "check_name": text(check.get("check_name")),
                    "resource": text(check.get("resource"), 500),
                    "file_path": text(check.get("repo_file_path") or check.get("file_path"), 500),
                    "lines": _lines(check.get("file_line_range")),
                    "severity": text(check.get("severity"), 20).upper(),
                    "guideline": text(check.get("guideline"), 500),
                    "suppress_comment": text(result.get("suppress_comment"), 300),
                }
                records.append(record)
                if status == "failed":
                    failed_by_check[record["check_id"] or "(no id)"] += 1
                    failed_resources[record["resource"] or "(no resource)"] += 1
                    severities[record["severity"] or "UNKNOWN"] += 1
        errors = arr(results.get("parsing_errors"), f"report {index}.results.parsing_errors", LABEL)
        parsing_errors += max(len(errors), _count(summary.get("parsing_errors")))
        summary_failed += _count(summary.get("failed"))
        version = text(summary.get("checkov_version"), 40)
        if version:
            versions.add(version)
        frameworks.append(
            {
                "check_type": framework,
                "passed": counts["passed"] or _count(summary.get("passed")),
                "failed": counts["failed"] or _count(summary.get("failed")),
                "skipped": counts["skipped"] or _count(summary.get("skipped")),
                "parsing_errors": max(len(errors), _count(summary.get("parsing_errors"))),
                "resource_count": _count(summary.get("resource_count")),
            }
        )

    totals = {key: sum(f[key] for f in frameworks) for key in ("passed", "failed", "skipped")}
    failed = [r for r in records if r["status"] == "failed"]
    failed_count = len(failed) or summary_failed
    if failed_count:
        verdict = "fail"
        top = ", ".join(f"{check_id} ×{n}" if n > 1 else check_id for check_id, n in failed_by_check.most_common(5))
        reason = f"{plural(failed_count, 'failed check')}" + (f": {top}" if top else "")
    elif totals["passed"]:
        verdict, reason = "pass", f"all {plural(totals['passed'], 'check')} passed"
    else:
        verdict, reason = "info", "no checks ran"
    summary = {
        "checkov_version": ", ".join(sorted(versions)),
        "frameworks": frameworks[:MAX_LIST],
        "passed": totals["passed"],
        "failed": failed_count,
        "skipped": totals["skipped"],
        "parsing_errors": parsing_errors,
        "failed_checks": [
            {"check_id": r["check_id"], "resource": r["resource"], "file": r["file_path"], "lines": r["lines"]}
            for r in failed[:MAX_LIST]
        ],
        "failed_by_check": dict(failed_by_check.most_common(MAX_LIST)),
        "failed_resources": dict(failed_resources.most_common(MAX_LIST)),
        "failed_by_severity": dict(severities.most_common()),
    }
    names = ", ".join(f["check_type"] for f in frameworks[:5])
    title = f"Checkov ({text(names, 120)}): {totals['passed']} passed, {failed_count} failed"
    evidence = EvidenceFacts(
        kind="iac-scan",
        title=title,
        verdict=verdict,
        verdict_reason=reason,
        effective_at=None,
        subjects=[],
        summary=summary,
        records=records,
    )
    return ParseResult(format="checkov", evidence=[evidence])
