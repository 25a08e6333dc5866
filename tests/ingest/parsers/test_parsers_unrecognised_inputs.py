"""Real inputs that used to become "generic" evidence (issue 17, hole 6), read by their parsers now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.formats import ParseError, detect_format, parse_upload, parse_webhook
from apps.formats.junit import parse_junit
from apps.formats.spdx import parse_spdx
from apps.formats.terraform import parse_terraform

DATA = Path(__file__).parent / "data"
INFRA = DATA / "infra"


def read(path: Path) -> bytes:
    return path.read_bytes()


# --- Terraform plans of format_version 0.1 and 0.2 ----------------------------------


@pytest.mark.parametrize(
    ("name", "version", "terraform"),
    [("terraform_plan_0.1.json", "0.1", "0.12.31"), ("terraform_plan_0.2.json", "0.2", "1.0.11")],
)
def test_terraform_plans_of_format_0_1_and_0_2_are_read_like_1_x(name, version, terraform):
    body = read(INFRA / name)
    assert detect_format(body) == "terraform"
    evidence = parse_upload(body).evidence[0]
    current = parse_terraform(read(INFRA / "terraform_plan.json")).evidence[0]
    assert evidence.kind == "infrastructure"
    assert (evidence.summary["format_version"], evidence.summary["terraform_version"]) == (version, terraform)
    for key in ("resources_total", "unencrypted", "public", "encrypted_without_customer_key", "regions"):
        assert evidence.summary[key] == current.summary[key], key
    assert "aws_s3_bucket.raw_exports" in evidence.summary["unencrypted"]


def test_a_large_terraform_0_2_plan_is_detected_from_its_head():
    doc = json.loads(read(INFRA / "terraform_plan_0.2.json"))
    doc["variables"] = {f"v{i}": {"value": "x" * 100} for i in range(25_000)}  # over the full-parse limit
    body = json.dumps(doc).encode()
    assert len(body) > 2 * 1024 * 1024
    assert detect_format(body) == "terraform"


def test_terraform_format_versions_other_than_0_1_0_2_and_1_x_are_still_refused():
    for version in ("0.3", "2.0"):
        with pytest.raises(ParseError, match=f"format_version '{version}' is not supported"):
            parse_terraform(json.dumps({"format_version": version, "planned_values": {}}).encode())


# --- SPDX tag-value -----------------------------------------------------------------


def test_spdx_tag_value_from_sbom4python_gives_the_same_facts_as_its_json():
    tag_value = read(DATA / "sbom4python_requests.spdx")
    assert detect_format(tag_value) == "spdx"
    evidence = parse_upload(tag_value).evidence[0]
    twin = parse_spdx(read(DATA / "sbom4python_requests_twin.spdx.json")).evidence[0]
    assert evidence.kind == "sbom"
    for key in ("spdx_version", "document_name", "creators", "described", "packages_total", "packages", "licenses",
                "packages_without_license", "relationships", "edges", "unresolved_relationships"):
        assert evidence.summary[key] == twin.summary[key], key  # fmt: skip
    assert evidence.summary["packages_total"] == 5
    assert evidence.summary["described"] == ["pkg:pypi/requests@2.32.3"]
    assert [r["purl"] for r in evidence.records] == [r["purl"] for r in twin.records]

    def edges(facts):  # the two runs differ only in their document namespace (a fresh UUID each)
        namespace = facts.summary["document_namespace"]
        return {(e.source.uri.replace(namespace, "<doc>"), e.target.uri, e.relation) for e in facts.edges}

    assert edges(evidence) == edges(twin)
    assert len(edges(evidence)) == 7
    assert evidence.summary["format"] == "tag-value"


def test_spdx_tag_value_multi_line_text_and_comments_are_skipped_safely():
    body = (
        b"SPDXVersion: SPDX-2.2\nDataLicense: CC0-1.0\nSPDXID: SPDXRef-DOCUMENT\nDocumentName: app\n"
        b"DocumentNamespace: https://example.com/spdx/app-1\n# a comment\nCreator: Tool: hand\n"
        b"Created: 2024-01-02T03:04:05Z\nDocumentComment: <text>two\nPackageName: not-a-package\nlines</text>\n\n"
        b"PackageName: app\nSPDXID: SPDXRef-app\nPackageVersion: 1.0\nPackageLicenseConcluded: MIT\n"
        b"PackageChecksum: SHA256: " + b"ab" * 32 + b"\n"
        b"Relationship: SPDXRef-DOCUMENT DESCRIBES SPDXRef-app\n"
    )
    evidence = parse_spdx(body).evidence[0]
    assert evidence.summary["packages"] == ["app@1.0"]
    assert evidence.summary["licenses"] == {"MIT": 1}
    assert evidence.records[0]["sha256"] == "ab" * 32


def test_spdx_tag_value_without_a_version_line_names_the_problem():
    with pytest.raises(ParseError, match="SPDXVersion"):
        parse_spdx(b"DocumentName: app\nPackageName: x\n")


# --- a plain Fairlearn MetricFrame.by_group export ----------------------------------


def test_a_plain_fairlearn_by_group_export_is_read_as_fairness():
    body = read(INFRA / "fairlearn_by_group.json")
    assert detect_format(body) == "fairness"
    evidence = parse_upload(body).evidence[0]
    s = evidence.summary
    assert evidence.kind == "fairness"
    assert s["shape"] == "fairlearn-by-group"
    assert s["metrics"] == ["accuracy", "recall", "selection_rate", "false_negative_rate"]
    assert s["groups"] == ["female", "male"]
    assert s["by_group"]["accuracy"] == {"female": 0.585, "male": 0.765}
    # between-groups difference and ratio as MetricFrame computes them, and demographic parity from selection rate
    assert s["difference"]["accuracy"] == pytest.approx(0.18)
    assert s["ratio"]["selection_rate"] == pytest.approx(0.545 / 0.625)
    assert s["fairness"]["demographic_parity_difference"] == pytest.approx(0.08)
    assert s["fairness"]["demographic_parity_ratio"] == pytest.approx(0.872)
    assert "demographic_parity_difference" in s["computed"]


@pytest.mark.parametrize("name", ["fairlearn_by_group_table.json", "fairlearn_by_group_two_features_table.json"])
def test_a_fairlearn_by_group_table_export_keeps_the_sensitive_features(name):
    body = read(INFRA / name)
    assert detect_format(body) == "fairness"
    evidence = parse_upload(body).evidence[0]
    s = evidence.summary
    if "two_features" in name:
        assert s["sensitive_features"] == ["sex", "age"]
        assert s["groups"] == ["female | <40", "female | >=40", "male | <40", "male | >=40"]
    else:
        assert s["sensitive_features"] == ["sex"]
        assert s["by_group"]["selection_rate"] == {"female": 0.545, "male": 0.625}


def test_a_flat_map_of_numbers_is_not_taken_for_a_fairness_export():
    assert detect_format(b'{"accuracy": {"train": 0.9}, "loss": 0.1}') == "generic"
    assert detect_format(b'{"a": {"x": 1, "y": 2}, "b": {"x": 1, "z": 2}}') == "generic"


# --- GitHub status events -----------------------------------------------------------


def test_github_status_event_is_a_commit_status_about_its_commit():
    result = parse_webhook("github", "status", read(DATA / "github" / "status.success.json"))
    evidence = result.evidence[0]
    assert (evidence.kind, evidence.verdict) == ("commit-status", "pass")
    assert evidence.subjects[0].uri == (
        "git+https://github.com/codertocat/hello-world@6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    )
    s = evidence.summary
    assert (s["context"], s["state"], s["branches"]) == ("default", "success", ["master", "changes", "gh-pages"])
    assert evidence.effective_at.isoformat() == "2019-05-15T15:20:55+00:00"


@pytest.mark.parametrize(("state", "verdict"), [("failure", "fail"), ("error", "fail"), ("pending", "info")])
def test_github_status_failure_and_error_fail_and_pending_says_nothing(state, verdict):
    doc = json.loads(read(DATA / "github" / "status.success.json"))
    doc.update(state=state, context="ci/jenkins", description="Build #12")
    evidence = parse_webhook("github", "status", json.dumps(doc).encode()).evidence[0]
    assert evidence.verdict == verdict
    assert "ci/jenkins" in evidence.title


# --- JUnit: node's test reporter ----------------------------------------------------


def test_junit_counts_testcases_directly_under_testsuites_as_node_writes_them():
    """node --test --test-reporter=junit (node 20): top-level tests sit directly under <testsuites>."""
    evidence = parse_junit(read(DATA / "node_test_junit.xml")).evidence[0]
    s = evidence.summary
    assert (s["tests"], s["passed"], s["failed"], s["skipped"]) == (4, 2, 1, 1)
    assert evidence.verdict == "fail"
    assert s["failing_tests"] == ["test::fails at top level"]
    assert {r["name"] for r in evidence.records} == {
        "adds at top level", "fails at top level", "reads a header", "reads a trailer"
    }  # fmt: skip
