"""Pages: overview, system page, controls, rules and the editor; bounded queries at two data sizes."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.policy.models import ControlResult, RuleDryRun, RuleVersion
from apps.policy.oscal import validate_assessment_results
from apps.policy.services import coverage_snapshot, policy_evaluate, rule_dry_run_execute

pytestmark = pytest.mark.django_db

ROLES = [Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER, Role.AUDITOR]


@pytest.fixture
def evaluated(marketing, clinical):
    policy_evaluate()
    coverage_snapshot()
    return marketing


def test_the_overview_shows_coverage_trend_failing_controls_and_systems_at_risk(client, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    body = client.get("/").content.decode()
    for text in ("Coverage by framework", "90-day trend", "Top failing controls", "Systems at risk",
                 "Expiring exceptions", 'id="coverage-chart"', 'id="trend-chart"', "<details>"):  # fmt: skip
        assert text in body, text
    assert "Clinical records service" in body


def test_the_system_page_has_a_control_matrix_with_the_failing_hipaa_control(client, risk_owner, evaluated, clinical):
    client.force_login(risk_owner)
    body = client.get(f"/systems/{clinical['system'].slug}/").content.decode()
    assert "164.312(a)(2)(iv)" in body and "status-fail" in body
    assert "aws_s3_bucket.raw_exports" in body  # the reason, in the cell's title
    assert 'id="system-trend-chart"' in body


def test_the_control_page_shows_rules_results_and_evidence(client, engineer, evaluated):
    client.force_login(engineer)
    body = client.get("/controls/hipaa-164-312-a-2-iv/").content.decode()
    assert "infra-encryption-at-rest-managed-key" in body and "aws_s3_bucket.raw_exports" in body
    assert "Terraform" in body  # the evidence used


def test_results_pages_show_the_state_as_of_a_day(client, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    yesterday = (timezone.localdate() - timezone.timedelta(days=1)).isoformat()
    body = client.get(f"/controls/hipaa-164-312-a-2-iv/?as_of={yesterday}").content.decode()
    assert "Showing the state the portal knew at the end of" in body
    assert "aws_s3_bucket.raw_exports" not in body  # nothing was evaluated before today


@pytest.mark.parametrize("path", ["/controls/", "/controls/soc2-cc7-1/", "/rules/", "/rules/security-scan-fresh/"])
@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_policy_pages(client, make_user, evaluated, path, role):
    client.force_login(make_user(role))
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("role,status", [(Role.ADMIN, 200), (Role.COMPLIANCE_OFFICER, 200), (Role.RISK_OWNER, 403),
                                         (Role.ENGINEER, 403), (Role.AUDITOR, 403)])  # fmt: skip
def test_only_compliance_officers_and_admins_edit_rules(client, make_user, role, status):
    client.force_login(make_user(role))
    assert client.get("/rules/security-scan-fresh/edit/").status_code == status
    assert client.get("/rules/new/").status_code == status
    assert client.post("/rules/validate", {"expression": "true"}).status_code == status


def test_the_editor_points_at_a_syntax_error_while_typing(client, compliance_officer):
    client.force_login(compliance_officer)
    body = client.post("/rules/validate", {"expression": "evidence.sbom &&\n  (1 + "}, HTTP_HX_REQUEST="true")
    text = body.content.decode()
    assert 'data-line="2"' in text and "Line 2, column" in text
    ok = client.post("/rules/validate", {"expression": "size(approvals) >= 1"}).content.decode()
    assert "compiles" in ok


def test_a_dry_run_shows_what_would_change_and_saves_nothing(
    client, compliance_officer, evaluated, django_capture_on_commit_callbacks
):
    client.force_login(compliance_officer)
    versions = RuleVersion.objects.count()
    form = {
        "rule_key": "sbom-for-deployed-image", "key": "sbom-for-deployed-image", "title": "Any SBOM",
        "controls": "soc2-cc6-8", "requires": "", "expression": "true", "severity": "medium", "mode": "gate",
        "sel_artifact_kinds": "release",
    }  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        queued = client.post("/rules/dry-run", form).content.decode()
    assert "Queued for a worker" in queued and 'hx-trigger="every 1s"' in queued
    assert len(callbacks) == 1  # the worker's task, after commit; nothing evaluated in the request
    dry_run = RuleDryRun.objects.get()
    assert dry_run.status == RuleDryRun.Status.QUEUED and dry_run.requested_by == compliance_officer
    rule_dry_run_execute(dry_run_id=dry_run.pk)  # what the worker does
    text = client.get(f"/rules/dry-run/{dry_run.pk}").content.decode()
    assert "would change" in text and "release:https://github.com/acme/marketing-site@2.4.0" in text
    assert "every 1s" not in text  # finished: the page stops polling
    assert RuleVersion.objects.count() == versions


def test_saving_in_the_editor_makes_a_new_version(client, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    form = {
        "title": "A security scan is at most 14 days old", "controls": "soc2-cc7-1, gdpr-32-1-d",
        "requires": "sast-scan", "expression": "evidence.sast_scan.age_days <= 14.0", "severity": "medium",
        "mode": "gate", "sel_artifact_kinds": "commit, image, release, deployment", "note": "stricter",
    }  # fmt: skip
    response = client.post("/rules/security-scan-fresh/edit/", form)
    assert response.status_code == 302
    assert RuleVersion.objects.filter(rule__key="security-scan-fresh").count() == 2
    bad = client.post("/rules/security-scan-fresh/edit/", {**form, "expression": "evidence.(("})
    assert bad.status_code == 200 and "line 1" in bad.content.decode()


def test_the_oscal_export_validates_and_downloads(client, risk_owner, evaluated):
    client.force_login(risk_owner)
    response = client.get("/frameworks/hipaa/assessment-results.json?system=clinical-records")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    doc = json.loads(response.content)
    validate_assessment_results(doc)
    findings = doc["assessment-results"]["results"][0]["findings"]
    assert any(f["target"]["target-id"] == "hipaa-164-312-a-2-iv" and f["target"]["status"]["state"] == "not-satisfied"
               for f in findings)  # fmt: skip
    api = client.get("/api/v1/frameworks/hipaa/assessment-results").json()
    validate_assessment_results(api)


def test_a_catalog_can_be_imported_through_the_api(client, compliance_officer, engineer):
    from apps.policy.oscal import catalog_to_oscal, shipped_catalogs

    doc = catalog_to_oscal(shipped_catalogs()["soc2"])
    doc["catalog"]["uuid"] = "0f0e0d0c-0b0a-4908-8706-050403020100"
    for group in doc["catalog"]["groups"]:
        group["id"] = "acme-" + group["id"]
        for c in group["controls"]:
            c["id"] = "acme-" + c["id"]
            for p in c.get("parts", []):
                p["id"] = "acme-" + p["id"]
    doc["catalog"]["metadata"]["props"][0]["value"] = "acme-controls"
    client.force_login(engineer)
    assert client.post("/api/v1/frameworks/import", doc, content_type="application/json").status_code == 403
    client.force_login(compliance_officer)
    response = client.post("/api/v1/frameworks/import", doc, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["code"] == "acme-controls"
    bad = client.post("/api/v1/frameworks/import", {"catalog": {}}, content_type="application/json")
    assert bad.status_code == 400 and "error" in bad.json()


def _grow(factor: int):
    """More results and history for the same systems: copies of the release's results on new artifacts."""
    from apps.evidence.models import Artifact
    from apps.policy.models import ControlResultChange, EvaluatedSubject

    release = Artifact.objects.get(uri="release:https://github.com/acme/marketing-site@2.4.0")
    rows = list(ControlResult.objects.filter(artifact=release))
    now = timezone.now()
    for i in range(factor):
        a = Artifact.objects.create(kind="release", uri=f"release:https://github.com/acme/marketing-site@9.{i}",
                                    system=release.system, first_seen=now)  # fmt: skip
        EvaluatedSubject.objects.create(artifact=a, system=release.system, kind="release", worst_status="fail",
                                        first_seen=now, evaluated_at=now)  # fmt: skip
        for r in rows:
            new = ControlResult.objects.create(control=r.control, rule=r.rule, rule_version=r.rule_version,
                                               system=r.system, artifact=a, status=r.status, reason=r.reason,
                                               evaluated_at=now)  # fmt: skip
            ControlResultChange.objects.create(result=new, control=r.control, rule=r.rule, rule_version=r.rule_version,
                                               system=r.system, artifact=a, status=r.status, reason=r.reason,
                                               changed_at=now)  # fmt: skip
    coverage_snapshot()


@pytest.mark.parametrize("grow", [0, 30])
def test_overview_and_system_pages_issue_a_bounded_number_of_queries(
    client, compliance_officer, evaluated, grow, django_assert_max_num_queries
):
    _grow(grow)
    client.force_login(compliance_officer)
    client.get("/")  # warm caches (content types, sessions)
    # 30 for the page, 3 for the navigation's approvals badge a compliance officer sees on every page
    # (the exception and release inboxes and the executive check: apps.dashboard.home.approvals_waiting)
    with django_assert_max_num_queries(33):
        assert client.get("/").status_code == 200
    with django_assert_max_num_queries(33):
        assert client.get("/systems/marketing-site/").status_code == 200
    with django_assert_max_num_queries(33):
        assert client.get("/systems/marketing-site/?as_of=" + timezone.localdate().isoformat()).status_code == 200


def test_another_users_dry_run_is_not_shown(client, make_user, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    form = {"key": "draft-rule", "title": "Any", "controls": "soc2-cc6-8", "expression": "true", "severity": "low",
            "mode": "warn", "sel_artifact_kinds": "release"}  # fmt: skip
    client.post("/rules/dry-run", form)
    dry_run = RuleDryRun.objects.get()
    client.force_login(make_user(Role.COMPLIANCE_OFFICER))
    assert client.get(f"/rules/dry-run/{dry_run.pk}").status_code == 404


def test_a_dry_run_whose_worker_died_says_so_instead_of_polling_for_ever(client, compliance_officer):
    client.force_login(compliance_officer)
    started = timezone.now() - timezone.timedelta(hours=1)
    dry_run = RuleDryRun.objects.create(
        requested_by=compliance_officer, rule_key="draft-rule", spec={}, status=RuleDryRun.Status.RUNNING,
        created_at=started, started_at=started,
    )
    text = client.get(f"/rules/dry-run/{dry_run.pk}").content.decode()
    assert "did not finish" in text and "every 1s" not in text
