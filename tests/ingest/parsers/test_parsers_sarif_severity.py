"""SARIF severity normalised across scanners (issue 17, hole 3): one scale, the original kept next to it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from apps.formats import detect_format
from apps.formats.sarif import parse_sarif
from apps.policy.rulesets import evaluate_rule, load_rule_set

DATA = Path(__file__).parent / "data"
RULES = {rule.key: rule for rule in load_rule_set()}


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _sast_facts(summary: dict) -> dict:
    """The facts of a commit whose latest scan has `summary`, as the policy app builds them."""
    return {
        "subject": {"kind": "commit", "uri": "git+https://git.example/acme/app@" + "a" * 40, "digest": "", "name": ""},
        "system": {"slug": "app", "name": "App", "kind": "service", "risk_tier": "high", "data_classes": [],
                   "frameworks": ["soc2"], "environment": "prod"},
        "evidence": {"sast-scan": {"id": 1, "kind": "sast-scan", "verdict": "fail", "summary": summary}},
        "lineage": {}, "approvals": [], "baseline": {},
    }  # fmt: skip


# --- the reproduction: real bandit output --------------------------------------------


def test_bandit_high_findings_count_as_high_severity_and_fail_sast_no_high_findings():
    """bandit 1.9.4 on subprocess.call(shell=True), os.system and hashlib.md5 (data/README.md)."""
    body = read("bandit_shell_md5.sarif")
    assert detect_format(body) == "sarif"
    evidence = parse_sarif(body).evidence[0]
    summary = evidence.summary

    assert summary["high_severity"] == 3
    assert summary["by_severity"] == {"critical": 0, "high": 3, "medium": 0, "low": 1, "none": 0}
    high = {r["rule_id"] for r in evidence.records if r["severity"] == "high"}
    assert high == {"B602", "B605", "B324"}
    b602 = next(r for r in evidence.records if r["rule_id"] == "B602")
    assert b602["severity_source"] == "issue_severity"
    assert b602["severity_original"] == "HIGH"
    assert b602["confidence"] == "HIGH"
    assert summary["security_severity_high"] == 0  # bandit writes no security-severity: the old count

    outcome = evaluate_rule(RULES["sast-no-high-findings"], _sast_facts(summary))
    assert (outcome.status, outcome.passed) == ("fail", False)
    assert outcome.reason == "not satisfied: evidence.sast_scan.summary.high_severity = 3"


# --- realistic output of the other scanners ------------------------------------------


def _run(driver: dict, results: list, extensions: list | None = None) -> bytes:
    tool = {"driver": driver}
    if extensions is not None:
        tool["extensions"] = extensions
    return json.dumps(
        {
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [{"tool": tool, "results": results}],
        }
    ).encode()


def _loc(uri: str, line: int) -> list:
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}}]


# github/codeql-action: rules live in the query pack extension; results point at it with toolComponent.
CODEQL = _run(
    {"name": "CodeQL", "organization": "GitHub", "semanticVersion": "2.19.3", "rules": []},
    [
        {"ruleId": "py/command-line-injection", "rule": {"id": "py/command-line-injection", "index": 0,
         "toolComponent": {"index": 0}}, "message": {"text": "This command line depends on a user-provided value."},
         "locations": _loc("app/views.py", 12)},
        {"ruleId": "py/weak-sensitive-data-hashing", "rule": {"id": "py/weak-sensitive-data-hashing", "index": 1,
         "toolComponent": {"index": 0}}, "message": {"text": "Sensitive data is used in a hashing algorithm (MD5)."},
         "locations": _loc("app/auth.py", 40)},
        {"ruleId": "py/unused-import", "rule": {"id": "py/unused-import", "index": 2, "toolComponent": {"index": 0}},
         "message": {"text": "Import of 'os' is not used."}, "locations": _loc("app/util.py", 1)},
    ],
    extensions=[{"name": "codeql/python-queries", "semanticVersion": "1.3.2", "rules": [
        {"id": "py/command-line-injection", "defaultConfiguration": {"enabled": True, "level": "error"},
         "properties": {"tags": ["correctness", "security", "external/cwe/cwe-078"], "kind": "path-problem",
                        "precision": "high", "problem.severity": "error", "security-severity": "9.8"}},
        {"id": "py/weak-sensitive-data-hashing", "defaultConfiguration": {"enabled": True, "level": "warning"},
         "properties": {"tags": ["security", "external/cwe/cwe-327"], "kind": "path-problem",
                        "precision": "high", "problem.severity": "warning", "security-severity": "7.5"}},
        {"id": "py/unused-import", "defaultConfiguration": {"enabled": True, "level": "note"},
         "properties": {"tags": ["maintainability"], "kind": "problem", "precision": "very-high",
                        "problem.severity": "recommendation"}},
    ]}],
)  # fmt: skip

# semgrep --sarif: rule defaultConfiguration.level from the rule's severity (ERROR/WARNING/INFO); results carry none.
SEMGREP = _run(
    {"name": "Semgrep OSS", "semanticVersion": "1.95.0", "rules": [
        {"id": "python.lang.security.audit.dangerous-subprocess-use-audit.dangerous-subprocess-use-audit",
         "defaultConfiguration": {"level": "error"},
         "properties": {"precision": "very-high", "tags": ["CWE-78: OS Command Injection", "HIGH CONFIDENCE",
                                                           "security"]}},
        {"id": "python.lang.security.insecure-hash-algorithms-md5.insecure-hash-algorithm-md5",
         "defaultConfiguration": {"level": "warning"},
         "properties": {"precision": "very-high", "tags": ["CWE-327", "MEDIUM CONFIDENCE", "security"]}},
        {"id": "python.lang.best-practice.open-never-closed.open-never-closed",
         "defaultConfiguration": {"level": "note"}, "properties": {"precision": "very-high", "tags": []}},
    ]},
    [
        {"ruleId": "python.lang.security.audit.dangerous-subprocess-use-audit.dangerous-subprocess-use-audit",
         "message": {"text": "Detected subprocess function 'call' without a static string."},
         "locations": _loc("app.py", 9), "fingerprints": {"matchBasedId/v1": "1a2b"}, "properties": {}},
        {"ruleId": "python.lang.security.insecure-hash-algorithms-md5.insecure-hash-algorithm-md5",
         "message": {"text": "Detected MD5 hash algorithm which is considered insecure."},
         "locations": _loc("app.py", 17), "fingerprints": {"matchBasedId/v1": "3c4d"}, "properties": {}},
        {"ruleId": "python.lang.best-practice.open-never-closed.open-never-closed",
         "message": {"text": "file object opened without corresponding close"},
         "locations": _loc("app.py", 20), "fingerprints": {"matchBasedId/v1": "5e6f"}, "properties": {}},
    ],
)  # fmt: skip

# @microsoft/eslint-formatter-sarif: rule severity 2 -> "error", 1 -> "warning" on each result.
ESLINT = _run(
    {"name": "ESLint", "informationUri": "https://eslint.org", "version": "9.14.0", "rules": [
        {"id": "no-eval", "shortDescription": {"text": "Disallow the use of `eval()`"},
         "helpUri": "https://eslint.org/docs/latest/rules/no-eval", "properties": {"category": "Best Practices"}},
        {"id": "no-unused-vars", "shortDescription": {"text": "Disallow unused variables"},
         "helpUri": "https://eslint.org/docs/latest/rules/no-unused-vars", "properties": {"category": "Variables"}},
    ]},
    [
        {"level": "error", "message": {"text": "eval can be harmful."}, "locations": _loc("src/app.js", 3),
         "ruleId": "no-eval", "ruleIndex": 0},
        {"level": "warning", "message": {"text": "'x' is assigned a value but never used."},
         "locations": _loc("src/app.js", 7), "ruleId": "no-unused-vars", "ruleIndex": 1},
    ],
)  # fmt: skip

# trivy --format sarif: security-severity from the CVSS score, the level and a tag from the vendor severity.
TRIVY = _run(
    {"fullName": "Trivy Vulnerability Scanner", "informationUri": "https://github.com/aquasecurity/trivy",
     "name": "Trivy", "version": "0.57.0", "rules": [
        {"id": "CVE-2023-37920", "name": "LanguageSpecificPackageVulnerability",
         "shortDescription": {"text": "python-certifi: Removal of e-Tugra root certificate"},
         "defaultConfiguration": {"level": "error"}, "helpUri": "https://avd.aquasec.com/nvd/cve-2023-37920",
         "properties": {"precision": "very-high", "security-severity": "9.8",
                        "tags": ["vulnerability", "security", "CRITICAL"]}},
        {"id": "CVE-2024-35195", "name": "LanguageSpecificPackageVulnerability",
         "shortDescription": {"text": "requests: subsequent requests to the same host ignore cert verification"},
         "defaultConfiguration": {"level": "warning"}, "helpUri": "https://avd.aquasec.com/nvd/cve-2024-35195",
         "properties": {"precision": "very-high", "security-severity": "5.6",
                        "tags": ["vulnerability", "security", "MEDIUM"]}},
     ]},
    [
        {"ruleId": "CVE-2023-37920", "ruleIndex": 0, "level": "error",
         "message": {"text": "Package: certifi\nInstalled Version: 2022.12.7\nVulnerability CVE-2023-37920\n"
                             "Severity: CRITICAL\nFixed Version: 2023.7.22"},
         "locations": _loc("requirements.txt", 1)},
        {"ruleId": "CVE-2024-35195", "ruleIndex": 1, "level": "warning",
         "message": {"text": "Package: requests\nInstalled Version: 2.31.0\nVulnerability CVE-2024-35195\n"
                             "Severity: MEDIUM\nFixed Version: 2.32.0"},
         "locations": _loc("requirements.txt", 2)},
    ],
)  # fmt: skip

# grype -o sarif: a rule per vulnerability and package; security-severity from CVSS, level from the severity.
GRYPE = _run(
    {"name": "grype", "version": "0.84.0", "informationUri": "https://github.com/anchore/grype", "rules": [
        {"id": "CVE-2023-37920-certifi", "name": "PythonMatcherExactDirectMatch",
         "shortDescription": {"text": "CVE-2023-37920 critical vulnerability for certifi package"},
         "properties": {"security-severity": "9.8"}},
        {"id": "CVE-2024-39689-certifi", "name": "PythonMatcherExactDirectMatch",
         "shortDescription": {"text": "CVE-2024-39689 low vulnerability for certifi package"},
         "properties": {"security-severity": "3.1"}},
    ]},
    [
        {"ruleId": "CVE-2023-37920-certifi", "level": "error",
         "message": {"text": "A critical vulnerability in python package: certifi, version 2022.12.7 was found at: "
                             "/requirements.txt"}, "locations": _loc("/requirements.txt", 1)},
        {"ruleId": "CVE-2024-39689-certifi", "level": "note",
         "message": {"text": "A low vulnerability in python package: certifi, version 2022.12.7 was found at: "
                             "/requirements.txt"}, "locations": _loc("/requirements.txt", 1)},
    ],
)  # fmt: skip

# snyk test --sarif: CVSS as security-severity on the rule; snyk code test --sarif: only levels.
SNYK = _run(
    {"name": "Snyk Open Source", "semanticVersion": "1.1294.0", "rules": [
        {"id": "SNYK-PYTHON-REQUESTS-6928867",
         "shortDescription": {"text": "Medium severity - Always-Incorrect Control Flow Implementation "
                                      "vulnerability in requests"},
         "properties": {"tags": ["security", "CWE-670", "pip"], "cvssv3_baseScore": 5.6,
                        "security-severity": "5.6"}},
        {"id": "SNYK-PYTHON-CERTIFI-5805047",
         "shortDescription": {"text": "High severity - Insufficient Verification of Data Authenticity "
                                      "vulnerability in certifi"},
         "properties": {"tags": ["security", "CWE-345", "pip"], "cvssv3_baseScore": 7.5,
                        "security-severity": "7.5"}},
    ]},
    [
        {"ruleId": "SNYK-PYTHON-REQUESTS-6928867", "level": "warning",
         "message": {"text": "This file introduces a vulnerable requests package with a medium severity "
                             "vulnerability."}, "locations": _loc("requirements.txt", 2)},
        {"ruleId": "SNYK-PYTHON-CERTIFI-5805047", "level": "error",
         "message": {"text": "This file introduces a vulnerable certifi package with a high severity "
                             "vulnerability."}, "locations": _loc("requirements.txt", 1)},
    ],
)  # fmt: skip

SNYK_CODE = _run(
    {"name": "SnykCode", "semanticVersion": "1.0.0", "version": "1.0.0", "rules": [
        {"id": "python/CommandInjection", "name": "CommandInjection", "defaultConfiguration": {"level": "error"},
         "properties": {"tags": ["python", "CommandInjection", "Security"], "categories": ["Security"],
                        "precision": "very-high", "cwe": ["CWE-78"]}},
        {"id": "python/InsecureHash", "name": "InsecureHash", "defaultConfiguration": {"level": "warning"},
         "properties": {"tags": ["python", "InsecureHash", "Security"], "categories": ["Security"],
                        "precision": "very-high", "cwe": ["CWE-327", "CWE-328"]}},
    ]},
    [
        {"ruleId": "python/CommandInjection", "ruleIndex": 0, "level": "error",
         "message": {"text": "Unsanitized input from an HTTP parameter flows into subprocess.call."},
         "locations": _loc("app.py", 9), "properties": {"priorityScore": 807}},
        {"ruleId": "python/InsecureHash", "ruleIndex": 1, "level": "warning",
         "message": {"text": "MD5 hash (used in hashlib.md5) is insecure."},
         "locations": _loc("app.py", 17), "properties": {"priorityScore": 550}},
    ],
)  # fmt: skip

SCANNERS = [
    # name, body, normalised severity by rule id, (source of the first result, its original value)
    ("codeql", CODEQL, {"py/command-line-injection": "critical", "py/weak-sensitive-data-hashing": "high",
                        "py/unused-import": "low"}, ("security-severity", "9.8")),
    ("semgrep", SEMGREP, {"python.lang.security.audit.dangerous-subprocess-use-audit.dangerous-subprocess-use-audit":
                          "high", "python.lang.security.insecure-hash-algorithms-md5.insecure-hash-algorithm-md5":
                          "medium", "python.lang.best-practice.open-never-closed.open-never-closed": "low"},
     ("level", "error")),
    ("eslint", ESLINT, {"no-eval": "high", "no-unused-vars": "medium"}, ("level", "error")),
    ("trivy", TRIVY, {"CVE-2023-37920": "critical", "CVE-2024-35195": "medium"}, ("security-severity", "9.8")),
    ("grype", GRYPE, {"CVE-2023-37920-certifi": "critical", "CVE-2024-39689-certifi": "low"},
     ("security-severity", "9.8")),
    ("snyk", SNYK, {"SNYK-PYTHON-REQUESTS-6928867": "medium", "SNYK-PYTHON-CERTIFI-5805047": "high"},
     ("security-severity", "5.6")),
    ("snyk-code", SNYK_CODE, {"python/CommandInjection": "high", "python/InsecureHash": "medium"}, ("level", "error")),
    ("ruff", read("ruff_check.sarif"), None, ("level", "error")),
    ("checkov", read("infra/checkov_tf_k8s.sarif"), None, ("level", "error")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "expected", "first"), SCANNERS, ids=[s[0] for s in SCANNERS])
def test_each_scanner_severity_is_normalised_with_its_original_kept(name, body, expected, first):
    assert detect_format(body) == "sarif"
    evidence = parse_sarif(body).evidence[0]
    records = evidence.records
    if expected is None:  # ruff and Checkov write every finding as "error": each is high
        expected = {r["rule_id"]: "high" for r in records}
        assert expected
    assert {r["rule_id"]: r["severity"] for r in records} == expected
    assert (records[0]["severity_source"], records[0]["severity_original"]) == first
    by_severity = evidence.summary["by_severity"]
    assert sum(by_severity.values()) == evidence.summary["results_total"]
    assert evidence.summary["high_severity"] == by_severity["critical"] + by_severity["high"]
    blocking = by_severity["critical"] + by_severity["high"] > 0
    outcome = evaluate_rule(RULES["sast-no-high-findings"], _sast_facts(evidence.summary))
    assert outcome.passed is (not blocking)


def test_a_scan_with_only_medium_and_low_findings_passes_the_gate():
    body = copy.deepcopy(json.loads(TRIVY))
    run = body["runs"][0]
    run["results"] = run["results"][1:]  # only the MEDIUM requests finding
    evidence = parse_sarif(json.dumps(body).encode()).evidence[0]
    assert evidence.summary["by_severity"]["medium"] == 1
    assert evidence.summary["high_severity"] == 0
    assert evaluate_rule(RULES["sast-no-high-findings"], _sast_facts(evidence.summary)).passed is True


# --- the mapping itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("result_props", "rule_props", "level", "expected"),
    [
        ({"security-severity": "9.0"}, {}, "note", ("critical", "security-severity", "9.0")),
        ({}, {"security-severity": "7.0"}, "note", ("high", "security-severity", "7.0")),
        ({}, {"security-severity": "6.9"}, "error", ("medium", "security-severity", "6.9")),
        ({}, {"security-severity": "4.0"}, "none", ("medium", "security-severity", "4.0")),
        ({}, {"security-severity": "0.1"}, "error", ("low", "security-severity", "0.1")),
        ({}, {"security-severity": "0.0"}, "error", ("none", "security-severity", "0.0")),
        ({"security-severity": "high"}, {}, "note", ("low", "level", "note")),  # not a number: next source
        ({"issue_severity": "MEDIUM", "issue_confidence": "LOW"}, {}, "error", ("medium", "issue_severity", "MEDIUM")),
        ({"issue_severity": "UNDEFINED"}, {}, "warning", ("medium", "level", "warning")),
        ({}, {}, "error", ("high", "level", "error")),
        ({}, {}, "warning", ("medium", "level", "warning")),
        ({}, {}, "note", ("low", "level", "note")),
        ({}, {}, "none", ("none", "level", "none")),
    ],
)
def test_severity_comes_from_the_most_specific_source(result_props, rule_props, level, expected):
    from apps.formats.sarif import normalise_severity

    assert normalise_severity(result_props, rule_props, level)[:3] == expected


def test_suppressed_high_findings_are_counted_but_do_not_fail_the_verdict():
    body = json.loads(read("bandit_shell_md5.sarif"))
    for result in body["runs"][0]["results"]:
        result["suppressions"] = [{"kind": "inSource", "justification": "# nosec"}]
    evidence = parse_sarif(json.dumps(body).encode()).evidence[0]
    assert evidence.verdict == "pass"
    assert evidence.summary["suppressed"] == 4
