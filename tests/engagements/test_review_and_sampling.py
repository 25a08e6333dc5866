"""Auditors mark evidence and draw reproducible samples; both are part of the engagement's record."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from apps.engagements.models import EvidenceReview, SampleItem
from apps.engagements.populations import POPULATIONS
from apps.engagements.services import evidence_review_mark, sample_draw, sample_item_test, sample_pick
from apps.ledger.models import PendingEntry

pytestmark = pytest.mark.django_db


def test_a_flag_needs_a_comment_and_the_owners_are_told(world, engineer):
    world.system_in.engineering_owners.add(engineer)
    with pytest.raises(ValidationError):
        evidence_review_mark(
            actor=world.auditor_in, engagement_id=world.engagement.pk, evidence_id=world.evidence_in.pk, mark="flagged"
        )
    evidence_review_mark(
        actor=world.auditor_in,
        engagement_id=world.engagement.pk,
        evidence_id=world.evidence_in.pk,
        mark="flagged",
        comment="Two failing tests were waived without a ticket",
    )
    assert engineer.notifications.filter(body__contains="waived").exists()
    assert PendingEntry.objects.filter(action="evidence.reviewed").exists()


def test_the_owner_sees_the_flag_on_the_evidence_page(client, world, engineer):
    evidence_review_mark(
        actor=world.auditor_in,
        engagement_id=world.engagement.pk,
        evidence_id=world.evidence_in.pk,
        mark="flagged",
        comment="Missing sign-off",
    )
    client.force_login(engineer)
    assert "Missing sign-off" in client.get(f"/evidence/{world.evidence_in.pk}/").content.decode()


def test_marking_again_replaces_the_mark(world):
    for mark in ("accepted", "not_applicable"):
        evidence_review_mark(
            actor=world.auditor_in, engagement_id=world.engagement.pk, evidence_id=world.evidence_in.pk, mark=mark
        )
    assert EvidenceReview.objects.get().mark == "not_applicable"


def test_evidence_outside_the_engagement_cannot_be_marked(world):
    with pytest.raises(ValidationError):
        evidence_review_mark(
            actor=world.auditor_in,
            engagement_id=world.engagement.pk,
            evidence_id=world.evidence_out.pk,
            mark="accepted",
        )


def test_the_same_seed_draws_the_same_sample():
    assert sample_pick(100, 10, "abc") == sample_pick(100, 10, "abc")
    assert sample_pick(100, 10, "abc") != sample_pick(100, 10, "abd")


def test_a_sample_records_its_seed_population_digest_and_items(world):
    sample = sample_draw(
        actor=world.auditor_in, engagement_id=world.engagement.pk, population="all-evidence", size=1, seed="fixed-seed"
    )
    items = POPULATIONS["all-evidence"].select(world.engagement)
    assert [i.object_id for i in items] == [str(world.evidence_in.pk)]
    entry = PendingEntry.objects.get(action="sample.drawn")
    assert b"fixed-seed" in bytes(entry.canonical) and sample.population_digest.encode() in bytes(entry.canonical)
    item = SampleItem.objects.get(sample=sample)
    with pytest.raises(ValidationError):
        sample_item_test(actor=world.auditor_in, item_id=item.pk, result="failed")  # a failure says why
    sample_item_test(actor=world.auditor_in, item_id=item.pk, result="passed", note="approved by CAB")
    item.refresh_from_db()
    assert item.result == "passed" and item.tested_by == world.auditor_in


def test_production_deployments_population_takes_only_production_deployments(world):
    from apps.evidence.models import Evidence
    from apps.ingest.services import receipt_accept, receipt_parse, source_create
    from tests.ingest.conftest import fixture_bytes

    github = source_create(actor="system:test", kind="github", name="gh", system=world.system_in).source
    receipt, _ = receipt_accept(
        source=github,
        channel="github",
        event="deployment_status",
        enqueue=False,
        body=fixture_bytes("github/deployment_status.created.json"),
    )
    receipt_parse(receipt_id=receipt.pk)
    deployment = Evidence.objects.get(receipt=receipt)
    world.engagement.observation_start = deployment.effective_at - timedelta(days=1)
    world.engagement.observation_end = deployment.effective_at + timedelta(days=1)
    items = POPULATIONS["production-deployments"].select(world.engagement)
    assert [i.object_id for i in items] == [str(deployment.pk)]


def test_a_sample_cannot_be_larger_than_its_population(world):
    with pytest.raises(ValidationError):
        sample_draw(actor=world.auditor_in, engagement_id=world.engagement.pk, population="all-evidence", size=5)
