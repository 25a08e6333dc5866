"""Issue 21 item 2: the "production changes" population, each change with its evidence and rule results attached."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.engagements.models import SampleItem
from apps.engagements.populations import POPULATIONS
from apps.engagements.services import sample_draw
from apps.evidence.models import Evidence, EvidenceSubject
from apps.ingest.models import Source
from apps.ingest.services import receipt_accept, receipt_parse
from apps.policy.models import ResultStatus
from apps.policy.services import policy_evaluate
from devtools.demo import policy as demo
from tests.engagements.conftest import open_engagement, person
from tests.ingest.conftest import fixture_bytes
from tests.policy import conftest as policy_fixtures

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)

# The marketing site's release 2.4.0: tests and a clean scan on its commit, signed provenance, no SBOM.
marketing = policy_fixtures.marketing


def _deploy(
    source_name: str, *, environment: str, days_ago: float, deployment_id: int, state: str = "success"
) -> Evidence:
    """A GitHub deployment of the marketing commit to `environment`, parsed now."""
    doc = json.loads(fixture_bytes("github/deployment_status.created.json"))
    doc["repository"]["full_name"] = "acme/marketing-site"
    doc["repository"]["html_url"] = demo.MARKETING_REPO
    doc["deployment"].update(id=deployment_id, sha=demo.MARKETING_SHA, environment=environment)
    doc["deployment_status"].update(environment=environment, state=state, id=deployment_id * 10 + len(state))
    when = (timezone.now() - days_ago * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["deployment"]["created_at"] = doc["deployment_status"]["created_at"] = when
    doc["deployment_status"]["updated_at"] = when
    receipt, _ = receipt_accept(
        source=Source.objects.get(name=source_name),
        channel="github",
        event="deployment_status",
        enqueue=False,
        body=json.dumps(doc).encode(),
    )
    receipt_parse(receipt_id=receipt.pk)
    return Evidence.objects.get(receipt=receipt, kind="deployment")


@pytest.fixture
def changes(marketing):
    """Two production deployments of the marketing commit (the first reported twice), one to staging and
    one that failed, evaluated, in an engagement."""
    first = _deploy("github marketing-site", environment="production", days_ago=2, deployment_id=801)
    second = _deploy("github marketing-site", environment="production", days_ago=1, deployment_id=802)
    _deploy("github marketing-site", environment="production", days_ago=1.5, deployment_id=801, state="in_progress")
    _deploy("github marketing-site", environment="staging", days_ago=1, deployment_id=803)
    _deploy("github marketing-site", environment="production", days_ago=1, deployment_id=804, state="failure")
    policy_evaluate()
    officer = person(Role.COMPLIANCE_OFFICER, "officer")
    auditor = person(Role.AUDITOR, "auditor")
    engagement = open_engagement(officer, auditors=[auditor], systems=[marketing["system"]])
    return {"engagement": engagement, "auditor": auditor, "deployments": [first, second]}


def _change(deployment: Evidence) -> int:
    """The deployment artifact (the change) a piece of deployment evidence is about."""
    return EvidenceSubject.objects.get(evidence=deployment, artifact__kind="deployment").artifact_id


def test_production_changes_are_each_deployment_that_reached_production_in_the_window_once(changes):
    items = POPULATIONS["production-changes"].select(changes["engagement"])
    assert [i.object_id for i in items] == [str(_change(d)) for d in changes["deployments"]]
    assert all(i.object_type == "evidence.artifact" for i in items)


def test_a_sampled_change_carries_its_tests_scan_sbom_provenance_approval_and_rule_results(changes):
    sample = sample_draw(
        actor=changes["auditor"],
        engagement_id=changes["engagement"].pk,
        population="production-changes",
        size=2,
        seed="changes",
    )
    item = SampleItem.objects.get(sample=sample, object_id=str(_change(changes["deployments"][0])))
    attributes = item.attributes
    found = {e["kind"]: e for e in attributes["evidence"]}
    assert set(found) == {"test-report", "sast-scan", "sbom", "provenance", "approval"}
    # tests and the scan ran on the deployed commit: found through lineage, before the change
    junit = Evidence.objects.get(kind="test-report", system=changes["engagement"].systems.get())
    assert found["test-report"]["id"] == junit.pk and found["test-report"]["inherited"] is True
    assert found["test-report"]["after_change"] is False
    assert found["sast-scan"]["id"] is not None
    # no SBOM was ever recorded: the item says so instead of leaving it out
    assert found["sbom"]["id"] is None and found["sbom"]["label"] == "SBOM"
    # the rule results of the deployment are attached, with their statuses
    results = {r["rule"]: r for r in attributes["results"]}
    assert results["tests-ran-and-passed"]["status"] == ResultStatus.PASS
    assert results["sbom-for-deployed-image"]["status"] in (ResultStatus.FAIL, ResultStatus.MISSING)
    assert attributes["subject"]["kind"] == "deployment"
    assert "signoffs" in attributes
    # and the auditor's test result starts empty
    assert item.result == SampleItem.Result.UNTESTED and item.tested_by is None


def test_the_sample_page_shows_a_changes_evidence_and_results_at_once(client, changes):
    sample = sample_draw(
        actor=changes["auditor"],
        engagement_id=changes["engagement"].pk,
        population="production-changes",
        size=1,
        seed="one",
    )
    junit = Evidence.objects.get(kind="test-report", system=changes["engagement"].systems.get())
    client.force_login(changes["auditor"])
    html = client.get(sample.get_absolute_url()).content.decode()
    assert f'href="/evidence/{junit.pk}/"' in html
    assert "SBOM" in html and "none linked" in html
    assert "tests-ran-and-passed" in html


def test_a_change_outside_the_window_is_not_in_the_population(changes):
    engagement = changes["engagement"]
    engagement.observation_end = changes["deployments"][1].effective_at  # the window ends before the second one
    items = POPULATIONS["production-changes"].select(engagement)
    assert [i.object_id for i in items] == [str(_change(changes["deployments"][0]))]
