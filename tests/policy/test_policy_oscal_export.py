"""Assessment results out: OSCAL structure, status mapping, evidence links."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from apps.policy.oscal import OscalError, export_assessment_results, shipped_catalogs, validate_assessment_results

WHEN = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
IMAGE = {"uri": "oci://registry.example/app@sha256:" + "a" * 64, "kind": "image", "name": "app"}


def _result(control_id: str, status: str, **extra) -> dict:
    return {
        "control_id": control_id,
        "subject": IMAGE,
        "status": status,
        "reason": f"{status} because of the facts",
        "evidence": [{"id": 41, "title": "Semgrep scan", "sha256": "b" * 64, "href": "/evidence/41"}],
        "evaluated_at": WHEN,
        **extra,
    }


def _export(results):
    return export_assessment_results(
        framework=shipped_catalogs()["soc2"],
        results=results,
        title="SOC 2 observation window Q1 2025",
        period_start=datetime(2025, 1, 1, tzinfo=UTC),
        period_end=WHEN,
        import_ap_href="https://portal.example/plans/q1.json",
        published=WHEN,
    )


ALL_STATUSES = [
    _result("soc2-cc7-1", "pass", rule="sast-no-high-findings", rule_version=3),
    _result("soc2-cc8-1", "fail"),
    _result("soc2-cc6-8", "missing", evidence=[]),
    _result("soc2-cc6-7", "excepted"),
    _result("soc2-cc6-1", "not-applicable", evidence=[]),
]


def test_export_is_valid_against_the_official_oscal_schema():
    models = pytest.importorskip("oscal_bindings.v1.models")
    models.AssessmentResultsDocument.model_validate(_export(ALL_STATUSES))


def test_export_maps_statuses_to_finding_states_and_keeps_ours_as_a_property():
    doc = _export(ALL_STATUSES)
    result = doc["assessment-results"]["results"][0]
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    assert {k: f["target"]["status"]["state"] for k, f in findings.items()} == {
        "soc2-cc7-1": "satisfied",
        "soc2-cc8-1": "not-satisfied",
        "soc2-cc6-8": "not-satisfied",
        "soc2-cc6-7": "not-satisfied",
    }
    assert all(f["target"]["type"] == "objective-id" for f in findings.values())
    statuses = {
        f["target"]["target-id"]: next(p["value"] for p in f["props"] if p["name"] == "result-status")
        for f in result["findings"]
    }
    assert statuses["soc2-cc6-8"] == "missing" and statuses["soc2-cc6-7"] == "excepted"
    assert "exception" in findings["soc2-cc6-7"]["target"]["status"]["remarks"]
    # not-applicable: an observation, no finding
    assert "soc2-cc6-1" not in findings
    assert len(result["observations"]) == 5
    rule_props = {p["name"]: p["value"] for p in findings["soc2-cc7-1"]["props"]}
    assert rule_props["rule"] == "sast-no-high-findings" and rule_props["rule-version"] == "3"


def test_findings_link_observations_that_carry_the_evidence_hrefs_and_digests():
    doc = _export(ALL_STATUSES)
    result = doc["assessment-results"]["results"][0]
    observations = {o["uuid"]: o for o in result["observations"]}
    finding = next(f for f in result["findings"] if f["target"]["target-id"] == "soc2-cc8-1")
    (link,) = finding["related-observations"]
    observation = observations[link["observation-uuid"]]
    (evidence,) = observation["relevant-evidence"]
    assert evidence["href"] == "/evidence/41"
    assert evidence["description"] == "Semgrep scan"
    assert {p["name"]: p["value"] for p in evidence["props"]} == {"evidence-id": "41", "sha256": "b" * 64}
    assert observation["methods"] == ["TEST"]
    assert observation["collected"] == "2025-03-31T12:00:00Z"
    assert observation["subjects"][0]["title"] == "app"


def test_export_has_the_required_top_level_structure():
    ar = _export(ALL_STATUSES)["assessment-results"]
    assert ar["import-ap"] == {"href": "https://portal.example/plans/q1.json"}
    assert ar["metadata"]["oscal-version"] == "1.1.2"
    result = ar["results"][0]
    assert result["start"] == "2025-01-01T00:00:00Z" and result["end"] == "2025-03-31T12:00:00Z"
    selected = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert [c["control-id"] for c in selected] == ["soc2-cc7-1", "soc2-cc8-1", "soc2-cc6-8", "soc2-cc6-7", "soc2-cc6-1"]


def test_the_same_inputs_give_the_same_document():
    assert _export(ALL_STATUSES) == _export(ALL_STATUSES)


def test_an_export_with_no_results_is_still_valid():
    doc = _export([])
    result = doc["assessment-results"]["results"][0]
    assert result["reviewed-controls"]["control-selections"] == [{"include-all": {}}]
    assert "findings" not in result and "observations" not in result
    models = pytest.importorskip("oscal_bindings.v1.models")
    models.AssessmentResultsDocument.model_validate(doc)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"status": "green"}, "is not one of pass, fail, missing, excepted, not-applicable"),
        ({"evaluated_at": datetime(2025, 1, 1)}, "no time zone"),
        ({"evaluated_at": "yesterday"}, "date-time with a time zone"),
        ({"control_id": "has space"}, "OSCAL token"),
        ({"subject": {}}, "subject URI"),
        ({"evidence": [{"title": "x"}]}, '"id" or "uuid"'),
        ({"evidence": [{"id": 1, "sha256": "zz"}]}, "64 hexadecimal"),
    ],
)
def test_export_refuses_bad_results_naming_the_result(bad, words):
    with pytest.raises(OscalError) as caught:
        _export([{**_result("soc2-cc7-1", "pass"), **bad}])
    assert caught.value.path.startswith("results[0]")
    assert words in caught.value.problem


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda ar: ar.pop("import-ap"), "$.assessment-results"),
        (lambda ar: ar.__setitem__("uuid", "x"), "$.assessment-results.uuid"),
        (lambda ar: ar["results"][0].pop("reviewed-controls"), "$.assessment-results.results[0]"),
        (lambda ar: ar["results"][0].__setitem__("start", "2025-01-01"), "$.assessment-results.results[0].start"),
        (
            lambda ar: ar["results"][0]["observations"][0].pop("methods"),
            "$.assessment-results.results[0].observations[0]",
        ),
        (
            lambda ar: ar["results"][0]["findings"][0]["target"]["status"].__setitem__("state", "passed"),
            "$.assessment-results.results[0].findings[0].target.status.state",
        ),
        (
            lambda ar: ar["results"][0]["findings"][0]["related-observations"][0].__setitem__(
                "observation-uuid", "0b5c6a9e-6a43-4f5e-9d55-1e8b6d7c2f10"
            ),
            "$.assessment-results.results[0].findings[0].related-observations[0].observation-uuid",
        ),
        (
            lambda ar: ar["results"][0]["findings"][1].__setitem__("uuid", ar["results"][0]["findings"][0]["uuid"]),
            "$.assessment-results.results[0].findings[1].uuid",
        ),
        (lambda ar: ar["results"].clear(), "$.assessment-results.results"),
    ],
)
def test_validator_names_the_first_structural_problem(mutate, path):
    doc = copy.deepcopy(_export(ALL_STATUSES))
    mutate(doc["assessment-results"])
    with pytest.raises(OscalError) as caught:
        validate_assessment_results(doc)
    assert caught.value.path == path
