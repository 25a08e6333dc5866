"""Facts extracted from fixtures produced by real tools (see data/README.md)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apps.formats import (
    PARSERS,
    ParseError,
    detect_format,
    parse_upload,
)
from apps.formats.cyclonedx import parse_cyclonedx
from apps.formats.intoto import parse_intoto
from apps.formats.junit import parse_junit
from apps.formats.mlreports import parse_metrics, parse_model_card
from apps.formats.sarif import parse_sarif
from apps.formats.spdx import parse_spdx

DATA = Path(__file__).parent / "data"
IMAGE = "oci://ghcr.io/octo-org/octo-app@sha256:7d9e4f2a3c1b5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
COMMIT = "git+https://github.com/octo-org/octo-repo@3484a3fb816e0859fd6e1cea078d76385ff50625"

EXPECTED_FORMATS = {
    "junit_pytest.xml": "junit",
    "ruff_check.sarif": "sarif",
    "cyclonedx_py_env.cdx.json": "cyclonedx",
    "cyclonedx_py_env_1.4.cdx.json": "cyclonedx",
    "cyclonedx_py_env.cdx.xml": "cyclonedx",
    "sbom4python_requests.spdx.json": "spdx",
    "intoto_statement_slsa_v1.json": "intoto",
    "dsse_slsa_v1.intoto.json": "intoto",
    "dsse_slsa_v02_unsigned.intoto.json": "intoto",
    "hf_model_card_data.json": "model-card",
    "fairlearn_report.json": "metrics",
}


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def assert_json_safe(result):
    for evidence in result.evidence:
        json.dumps(evidence.summary, allow_nan=False)
        json.dumps(evidence.records, allow_nan=False)
        assert evidence.verdict in ("pass", "fail", "info")
        assert evidence.effective_at is None or evidence.effective_at.tzinfo is not None


# --- detection ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_FORMATS.items()))
def test_every_fixture_is_detected_from_its_content(name, expected):
    assert detect_format(read(name)) == expected
    # the file name and declared type never override the content
    assert detect_format(read(name), content_type="application/pdf", filename="scan.pdf") == expected


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_FORMATS.items()))
def test_parse_upload_detects_and_parses_every_fixture(name, expected):
    result = parse_upload(read(name), filename=name)
    assert result.format == expected
    assert result.evidence
    assert_json_safe(result)


def test_unknown_content_becomes_generic_evidence_named_after_the_file():
    result = parse_upload(
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", filename="reports/pen-test 2024.pdf", content_type="application/pdf"
    )
    evidence = result.evidence[0]
    assert (result.format, evidence.kind, evidence.verdict) == ("generic", "generic", "info")
    assert evidence.title == "pen-test 2024.pdf"
    assert evidence.summary["size_bytes"] == 15
    assert evidence.summary["content_type"] == "application/pdf"


def test_an_explicit_unknown_kind_is_generic_and_a_known_kind_is_enforced():
    assert parse_upload(read("junit_pytest.xml"), kind="other").format == "generic"
    with pytest.raises(ParseError, match="SARIF"):
        parse_upload(read("junit_pytest.xml"), kind="sarif")
    assert set(PARSERS) == {
        "junit", "sarif", "cyclonedx", "spdx", "intoto", "model-card", "metrics",
        "terraform", "kubernetes", "checkov", "great-expectations", "drift", "fairness", "dvc", "opa",
    }


def test_detection_of_plain_text_and_json_arrays_is_generic():
    assert detect_format(b"") == "generic"
    assert detect_format(b"hello") == "generic"
    assert detect_format(b"[1, 2]") == "generic"
    assert detect_format(b'<?xml version="1.0"?><html/>') == "generic"


# --- JUnit --------------------------------------------------------------------------


def test_junit_from_pytest_counts_failures_errors_and_skips():
    evidence = parse_junit(read("junit_pytest.xml")).evidence[0]
    s = evidence.summary
    assert (s["tests"], s["passed"], s["failed"], s["errored"], s["skipped"]) == (6, 2, 2, 1, 1)
    assert evidence.verdict == "fail"
    assert evidence.verdict_reason == "2 failed and 1 errored of 6 tests"
    assert s["failing_tests"] == [
        "test_sample::test_division_is_wrong",
        "test_sample::test_raises_error",
        "test_sample::test_setup_error",
    ]
    assert evidence.effective_at == datetime(2026, 11, 22, 0, 26, 2, 796263, tzinfo=UTC)
    assert s["suites"][0]["name"] == "pytest"
    assert len(evidence.records) == 6
    assert evidence.kind == "test-report"


def test_junit_all_passing_single_suite_passes():
    body = b"""<testsuite name="unit" tests="2" timestamp="2024-03-01T10:00:00">
      <testcase classname="a" name="one" time="0.1"/><testcase classname="a" name="two"/></testsuite>"""
    evidence = parse_junit(body).evidence[0]
    assert (evidence.verdict, evidence.verdict_reason) == ("pass", "all 2 tests passed")
    assert evidence.effective_at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def test_junit_without_tests_is_info_and_counts_only_attributes_when_no_testcases():
    assert parse_junit(b"<testsuites/>").evidence[0].verdict == "info"
    skipped = parse_junit(b'<testsuite><testcase name="a"><skipped/></testcase></testsuite>').evidence[0]
    assert (skipped.verdict, skipped.verdict_reason) == ("info", "1 test skipped, none run")
    totals = parse_junit(
        b'<testsuites><testsuite name="s" tests="10" failures="1" errors="0" skipped="2"/></testsuites>'
    )
    summary = totals.evidence[0].summary
    assert (summary["tests"], summary["failed"], summary["skipped"], summary["passed"]) == (10, 1, 2, 7)


def test_junit_failing_names_are_capped_with_the_total_alongside():
    cases = "".join(f'<testcase classname="c" name="t{i}"><failure message="x"/></testcase>' for i in range(120))
    evidence = parse_junit(f"<testsuite>{cases}</testsuite>".encode()).evidence[0]
    assert evidence.summary["failing_tests_total"] == 120
    assert len(evidence.summary["failing_tests"]) == 50
    assert len(evidence.records) == 120


def test_junit_rejects_other_xml_with_a_readable_message():
    with pytest.raises(ParseError, match=r"root element is <html>"):
        parse_junit(b"<html><body/></html>")


# --- SARIF --------------------------------------------------------------------------


def test_sarif_from_ruff_counts_error_results_by_rule():
    evidence = parse_sarif(read("ruff_check.sarif")).evidence[0]
    s = evidence.summary
    assert s["tools"] == [{"name": "ruff", "version": "0.17.6", "results": 8}]
    assert s["by_level"] == {"error": 8, "warning": 0, "note": 0, "none": 0}
    assert {r["id"] for r in s["rules"]} == {"F401", "E401", "S307", "E722", "S110", "E741", "F821"}
    assert s["rules"][0] == {"id": "F401", "results": 2}
    assert "file:///tmp/fx/bad.py:8" in s["locations"]
    assert (evidence.verdict, evidence.verdict_reason) == ("fail", "8 error-level results")
    assert len(evidence.records) == 8
    assert evidence.records[0]["rule_id"] == "E401"


def sarif_doc(results, rules=None):
    return json.dumps(
        {
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": "scanner", "version": "1.0", "rules": rules or []}},
                    "invocations": [{"executionSuccessful": True, "endTimeUtc": "2024-02-01T08:30:00Z"}],
                    "results": results,
                }
            ],
        }
    ).encode()


def test_sarif_levels_default_to_warning_and_honour_rule_configuration():
    rules = [
        {"id": "R1", "defaultConfiguration": {"level": "error"}},
        {"id": "R2", "defaultConfiguration": {"level": "note"}},
        {"id": "R3"},
    ]
    results = [
        {"ruleId": "R1", "message": {"text": "a"}},
        {"ruleId": "R2", "message": {"text": "b"}},
        {"ruleId": "R3", "message": {"text": "c"}},
        {"ruleIndex": 1, "message": {"text": "d"}},
        {"ruleId": "R1", "level": "warning", "message": {"text": "e"}},
        {"ruleId": "R1", "kind": "pass", "message": {"text": "f"}},
    ]
    evidence = parse_sarif(sarif_doc(results, rules)).evidence[0]
    assert evidence.summary["by_level"] == {"error": 1, "warning": 2, "note": 2, "none": 1}
    assert evidence.verdict == "fail"
    assert evidence.effective_at == datetime(2024, 2, 1, 8, 30, tzinfo=UTC)


def test_sarif_high_security_severity_fails_even_as_a_warning_and_suppressed_results_do_not():
    rules = [{"id": "SEC", "properties": {"security-severity": "8.1"}}]
    high = parse_sarif(sarif_doc([{"ruleId": "SEC", "level": "warning", "message": {"text": "x"}}], rules))
    assert high.evidence[0].verdict == "fail"
    assert "security-severity >= 7.0" in high.evidence[0].verdict_reason
    suppressed = parse_sarif(
        sarif_doc(
            [{"ruleId": "SEC", "level": "error", "message": {"text": "x"}, "suppressions": [{"kind": "inSource"}]}],
            rules,
        )
    )
    assert suppressed.evidence[0].verdict == "pass"
    assert suppressed.evidence[0].summary["suppressed"] == 1
    assert parse_sarif(sarif_doc([])).evidence[0].verdict_reason == "no results"


def test_sarif_bad_level_names_the_exact_result():
    with pytest.raises(
        ParseError, match=r"runs\[0\]\.results\[1\]\.level 'fatal' is not one of error, warning, note, none"
    ):
        parse_sarif(
            sarif_doc(
                [
                    {"ruleId": "a", "message": {"text": "ok"}},
                    {"ruleId": "a", "level": "fatal", "message": {"text": "x"}},
                ]
            )
        )


def test_sarif_other_versions_are_refused():
    with pytest.raises(ParseError, match="only SARIF 2.1.0"):
        parse_sarif(b'{"version": "2.0.0", "runs": []}')


# --- CycloneDX ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["cyclonedx_py_env.cdx.json", "cyclonedx_py_env_1.4.cdx.json", "cyclonedx_py_env.cdx.xml"]
)
def test_cyclonedx_from_cyclonedx_py_in_json_and_xml(name):
    evidence = parse_cyclonedx(read(name)).evidence[0]
    assert evidence.kind == "sbom" and evidence.verdict == "info"
    assert evidence.subjects[0].uri == "pkg:generic/evidence-demo@0.1.0"
    assert evidence.summary["components_total"] == 7
    purls = {r["purl"] for r in evidence.records}
    assert "pkg:pypi/requests@2.32.3" in purls and "pkg:pypi/urllib3@2.8.0" in purls
    requests = next(r for r in evidence.records if r["name"] == "requests")
    assert "Apache-2.0" in requests["licenses"]
    edges = {(e.source.uri, e.target.uri) for e in evidence.edges}
    assert ("pkg:pypi/urllib3@2.8.0", "pkg:pypi/requests@2.32.3") in edges
    assert ("pkg:pypi/requests@2.32.3", "pkg:generic/evidence-demo@0.1.0") in edges
    assert all(e.relation == "depends-on" for e in evidence.edges)
    assert len(evidence.edges) == 6
    assert evidence.effective_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_cyclonedx_hashes_and_nested_components_are_recorded():
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "metadata": {
            "component": {
                "type": "container",
                "name": "app",
                "purl": "pkg:oci/app@sha256:" + "a" * 64 + "?repository_url=ghcr.io/org/app",
            }
        },
        "components": [
            {
                "type": "library",
                "name": "outer",
                "version": "1",
                "purl": "pkg:npm/outer@1",
                "hashes": [{"alg": "SHA-256", "content": "b" * 64}],
                "components": [{"type": "library", "name": "inner", "version": "2"}],
            }
        ],
    }
    evidence = parse_cyclonedx(json.dumps(doc).encode()).evidence[0]
    assert evidence.subjects[0].kind == "image"
    assert evidence.subjects[0].uri == "oci://ghcr.io/org/app@sha256:" + "a" * 64
    assert [r["name"] for r in evidence.records] == ["outer", "inner"]
    assert evidence.records[0]["hashes"] == {"SHA-256": "b" * 64}


# --- SPDX ---------------------------------------------------------------------------


def test_spdx_from_sbom4python_has_packages_and_relationships():
    evidence = parse_spdx(read("sbom4python_requests.spdx.json")).evidence[0]
    assert evidence.subjects[0].uri == "pkg:pypi/requests@2.32.3"
    assert evidence.summary["packages_total"] == 5
    assert evidence.summary["relationships"] == {"DEPENDS_ON": 4, "CONTAINS": 2, "DESCRIBES": 1}
    relations = {(e.source.uri, e.relation, e.target.uri) for e in evidence.edges}
    assert ("pkg:pypi/certifi@2026.10.18", "depends-on", "pkg:pypi/requests@2.32.3") in relations
    describes = [e for e in evidence.edges if e.relation == "describes"]
    assert describes[0].target.uri == "pkg:pypi/requests@2.32.3"
    contains = [e for e in evidence.edges if e.relation == "contains"]
    assert contains and all(e.target.kind == "file" for e in contains)
    assert evidence.records[0]["license"] == "Apache-2.0"


def test_spdx_3_is_refused_with_a_hint():
    with pytest.raises(ParseError, match="SPDX-2"):
        parse_spdx(b'{"spdxVersion": "SPDX-3.0"}')


# --- in-toto ------------------------------------------------------------------------


def test_signed_dsse_slsa_v1_provenance():
    evidence = parse_intoto(read("dsse_slsa_v1.intoto.json")).evidence[0]
    s = evidence.summary
    assert evidence.kind == "provenance" and evidence.verdict == "info"
    assert (s["signed"], s["signature_count"], s["container"]) == (True, 1, "dsse")
    # A parser has no keys: it never says verified, and the builder is only a claim (issue 17).
    assert evidence.verdict_reason == "unverified: 1 signature, not checked yet"
    assert (s["verified"], s["signer"], s["builder_id"]) == (False, "", "")
    assert s["claimed_builder_id"] == "https://github.com/actions/runner/github-hosted"
    assert evidence.verification["type"] == "dsse" and len(evidence.verification["signatures"]) == 1
    assert [x.kind for x in evidence.subjects] == ["image", "file"]
    assert evidence.subjects[0].uri == IMAGE
    assert evidence.subjects[1].name == "octo_app-1.4.0-py3-none-any.whl"
    sources = {e.source.uri for e in evidence.edges}
    assert COMMIT in sources
    assert (
        "oci://docker.io/library/python@sha256:1f0e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899a"
        in sources
    )
    assert {e.relation for e in evidence.edges} == {"built-from"}
    assert len(evidence.edges) == 4
    assert evidence.effective_at == datetime(2020, 10, 5, 16, 33, 49, tzinfo=UTC)


def test_unsigned_envelope_and_bare_statement_say_so():
    unsigned = parse_intoto(read("dsse_slsa_v02_unsigned.intoto.json")).evidence[0]
    assert unsigned.verdict_reason == "unverified: the dsse has no signatures"
    assert unsigned.verification is None
    assert unsigned.summary["predicate_type"] == "https://slsa.dev/provenance/v0.2"
    assert unsigned.summary["materials"] == [COMMIT]
    bare = parse_intoto(read("intoto_statement_slsa_v1.json")).evidence[0]
    assert bare.verdict_reason == "unverified: bare statement without an envelope"
    assert bare.summary["signed"] is False


def test_sigstore_bundle_and_json_lines_are_unwrapped():
    envelope = json.loads(read("dsse_slsa_v1.intoto.json"))
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {},
        "dsseEnvelope": envelope,
    }
    result = parse_intoto(json.dumps(bundle).encode())
    assert result.evidence[0].summary["container"] == "sigstore-bundle"
    assert result.evidence[0].summary["signed"] is True
    lines = json.dumps(envelope) + "\n" + json.dumps(json.loads(read("dsse_slsa_v02_unsigned.intoto.json"))) + "\n"
    assert detect_format(lines.encode()) == "intoto"
    assert len(parse_intoto(lines.encode()).evidence) == 2


def test_intoto_rejects_wrong_payload_types_and_statement_types():
    with pytest.raises(ParseError, match="payloadType"):
        parse_intoto(b'{"payloadType": "text/plain", "payload": "e30=", "signatures": []}')
    with pytest.raises(ParseError, match="_type"):
        parse_intoto(b'{"_type": "https://in-toto.io/Statement/v9", "subject": []}')
    with pytest.raises(ParseError, match="base64"):
        parse_intoto(b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%%", "signatures": []}')


# --- model cards and metrics --------------------------------------------------------


def test_fairlearn_report_fails_its_fairness_thresholds():
    evidence = parse_metrics(read("fairlearn_report.json")).evidence[0]
    assert evidence.kind == "fairness"
    assert evidence.verdict == "fail"
    assert "demographic_parity_difference = 0.75 is above the maximum 0.1" in evidence.verdict_reason
    assert [s.uri for s in evidence.subjects] == [
        "mlflow://fraud-detector/7",
        "dataset:sha256:5d41402abc4b2a76b9719d911017c592ae2bd5a1c0d8e0b1f2a3b4c5d6e7f809",
    ]
    assert evidence.summary["metrics"] == {"accuracy": 0.75, "auc": 0.9375}
    assert evidence.effective_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_huggingface_card_metrics_and_fairness_are_split():
    evidence = parse_model_card(read("hf_model_card_data.json")).evidence[0]
    assert evidence.kind == "model-card" and evidence.verdict == "info"
    assert evidence.summary["model"] == "fraud-detector"
    assert evidence.summary["metrics"] == {
        "accuracy [Transactions 2024Q1]": 0.75,
        "roc_auc [Transactions 2024Q1]": 0.9375,
    }
    assert list(evidence.summary["fairness"]) == ["demographic_parity_difference [Transactions 2024Q1]"]


def test_model_card_toolkit_shape_and_passing_thresholds():
    card = {
        "model_details": {"name": "churn", "version": {"name": "3", "date": "2024-01-02"}},
        "quantitative_analysis": {
            "performance_metrics": [
                {"type": "accuracy", "value": "0.93"},
                {"type": "false positive rate", "value": "0.1", "slice": "age>60"},
                {"type": "notes", "value": "n/a"},
            ]
        },
        "thresholds": {"accuracy": {"min": 0.9}},
    }
    evidence = parse_model_card(json.dumps(card).encode()).evidence[0]
    assert (evidence.verdict, evidence.verdict_reason) == ("pass", "all 1 threshold met")
    assert evidence.subjects[0].uri == "mlflow://churn/3"
    assert evidence.summary["fairness"] == {"false positive rate [age>60]": 0.1}
    assert evidence.summary["text_metrics"] == {"notes": "n/a"}
    metrics_only = parse_metrics(json.dumps({"model": "m", "metrics": {"auc": 0.8}}).encode()).evidence[0]
    assert (metrics_only.kind, metrics_only.verdict) == ("metrics", "info")


def test_metrics_with_a_missing_thresholded_metric_fail():
    doc = {"model": "m", "version": "1", "metrics": {"auc": 0.9}, "thresholds": {"recall": {"min": 0.5}}}
    evidence = parse_metrics(json.dumps(doc).encode()).evidence[0]
    assert evidence.verdict == "fail"
    assert "recall: no such metric" in evidence.verdict_reason


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"model": "m", "metrics": {"auc": "high"}}, r"metrics\.auc is 'high', expected a finite number"),
        (
            {"model": "m", "metrics": {"auc": 0.9}, "thresholds": {"auc": 0.8}},
            "must be an object with 'min' and/or 'max'",
        ),
        ({"something": "else"}, "expected a model card or metrics report"),
    ],
)
def test_metrics_input_errors_say_what_to_fix(doc, message):
    with pytest.raises(ParseError, match=message):
        parse_metrics(json.dumps(doc).encode())
