"""Disposal on schedule under a controlled clock, legal holds, shared blobs, ledger entries."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.accounts.roles import Role
from apps.evidence.models import Evidence, EvidenceRecord
from apps.ingest.blobs import blob_exists  # in the store, or still pending: disposal leaves neither
from apps.ingest.services import receipt_accept, receipt_parse
from apps.ledger.models import LedgerEntry
from apps.ledger.services import ledger_integrate_all
from apps.retention.models import Disposal, LegalHold
from apps.retention.selectors import evidence_retention, retention_report
from apps.retention.services import legal_hold_place, legal_hold_release, retention_dispose_due
from tests.ingest.conftest import COMMIT, fixture_bytes

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def upload(ci, system, fixture="junit_pytest.xml", *, effective_at, key=None):
    """Evidence effective at `effective_at` and received then too: retention runs from the later of
    the two (issue 17), so evidence old enough to be disposed of must also have been received long ago."""
    received = min(effective_at, timezone.now())
    with mock.patch("django.utils.timezone.now", return_value=received):
        receipt, _ = receipt_accept(
            source=ci.source,
            channel="upload",
            body=fixture_bytes(fixture),
            subject=COMMIT,
            filename=fixture,
            system=system,
            effective_at=effective_at,
            enqueue=False,
            delivery_key=key or "",
        )
    receipt = receipt_parse(receipt_id=receipt.pk)
    return Evidence.objects.get(receipt=receipt)


def actions(target) -> list[str]:
    ledger_integrate_all()
    qs = LedgerEntry.objects.filter(object_type=target._meta.label_lower, object_id=str(target.pk)).order_by("index")
    return list(qs.values_list("action", flat=True))


@pytest.fixture
def clock():
    """A controlled 'now' the disposal run is given (the services take `now`; nothing sleeps)."""
    return timezone.now()


def test_evidence_past_retention_is_disposed_of_on_schedule_and_the_record_stays(ci, system, clock):
    # test-report on a system in no framework: the default schedule (1095 days) from its effective time.
    evidence = upload(ci, system, effective_at=clock - 1000 * DAY)
    assert EvidenceRecord.objects.filter(evidence=evidence).exists()
    kept_until = evidence_retention(evidence).receipt_kept_until
    assert kept_until == evidence.effective_at + 1095 * DAY

    assert retention_dispose_due(now=clock) == 0  # not yet
    assert retention_dispose_due(now=kept_until - DAY) == 0
    assert retention_dispose_due(now=kept_until + DAY) == 1
    assert retention_dispose_due(now=kept_until + 2 * DAY) == 0  # safe to run twice

    disposal = Disposal.objects.get(receipt=evidence.receipt)
    assert disposal.schedule == "default" and disposal.blob_deleted and disposal.kept_until == kept_until
    assert not blob_exists(evidence.sha256)
    assert not EvidenceRecord.objects.filter(evidence=evidence).exists()  # parsed detail (personal data) gone
    kept = Evidence.objects.get(pk=evidence.pk)  # the record and its sha256 stay
    assert kept.sha256 == evidence.sha256 and kept.title == evidence.title
    assert "receipt.disposed" in actions(evidence.receipt)
    assert "evidence.disposed" in actions(evidence)


def test_legal_hold_blocks_disposal_until_released(ci, system, clock, compliance_officer, make_user):
    evidence = upload(ci, system, effective_at=clock - 2000 * DAY)
    hold = legal_hold_place(
        actor=compliance_officer,
        scope=LegalHold.Scope.SYSTEM,
        system=system,
        reason="Litigation hold: Doe v. Payments, counsel's letter of 2026-01-10",
    )
    assert retention_dispose_due(now=clock) == 0
    assert blob_exists(evidence.sha256)
    assert [h.pk for h in evidence_retention(evidence).holds] == [hold.pk]
    report = retention_report(system, clock)
    assert [r["receipt"] for r in report.held] == [evidence.receipt_id] and report.held[0]["holds"] == [hold.reference]
    assert report.due_now == []

    second_officer = make_user(Role.COMPLIANCE_OFFICER)  # the officer who placed a hold never releases it
    legal_hold_release(actor=second_officer, hold_id=hold.pk, reason="Matter settled; counsel released the hold")
    assert retention_dispose_due(now=clock) == 1
    assert not blob_exists(evidence.sha256)
    assert actions(hold) == ["legal_hold.placed", "legal_hold.released"]


@pytest.mark.parametrize("scope", ["period", "evidence"])
def test_period_and_evidence_holds_cover_only_what_they_name(ci, system, clock, compliance_officer, scope):
    old = upload(ci, system, "junit_pytest.xml", effective_at=clock - 2000 * DAY)
    other = upload(ci, system, "ruff_check.sarif", effective_at=clock - 1500 * DAY)
    if scope == "period":
        legal_hold_place(
            actor=compliance_officer,
            scope=scope,
            reason="Regulator inquiry into 2020",
            period_start=old.effective_at - DAY,
            period_end=old.effective_at + DAY,
        )
    else:
        legal_hold_place(
            actor=compliance_officer, scope=scope, reason="Evidence cited in complaint #42", evidence_ids=[old.pk]
        )
    assert retention_dispose_due(now=clock) == 1
    assert Disposal.objects.filter(receipt=other.receipt).exists()
    assert not Disposal.objects.filter(receipt=old.receipt).exists() and blob_exists(old.sha256)


def test_a_blob_shared_by_receipts_goes_only_with_the_last_one(ci, system, clock):
    first = upload(ci, system, effective_at=clock - 2000 * DAY, key="a")
    second = upload(ci, system, effective_at=clock - 10 * DAY, key="b")  # same bytes, kept much longer
    assert first.sha256 == second.sha256
    assert retention_dispose_due(now=clock) == 1
    assert Disposal.objects.get(receipt=first.receipt).blob_deleted is False
    assert blob_exists(first.sha256)  # the second receipt still needs it
    later = clock + 1200 * DAY
    assert retention_dispose_due(now=later) == 1
    assert Disposal.objects.get(receipt=second.receipt).blob_deleted is True
    assert not blob_exists(first.sha256)


def test_schedules_by_kind_and_framework_pick_the_longest(ci, system, clock):
    system.frameworks = ["hipaa"]
    system.save()
    evidence = upload(ci, system, effective_at=clock - 2000 * DAY)  # HIPAA documentation: six years
    r = evidence_retention(evidence)
    assert (r.schedule, r.days) == ("hipaa-documentation", 2190)
    assert retention_dispose_due(now=clock) == 0
    assert retention_dispose_due(now=evidence.effective_at + 2191 * DAY) == 1
    assert Disposal.objects.get(receipt=evidence.receipt).schedule == "hipaa-documentation"


def test_report_lists_disposals_due_in_the_next_30_and_90_days(ci, system, clock):
    soon = upload(ci, system, "junit_pytest.xml", effective_at=clock - 1080 * DAY)  # due in 15 days
    later = upload(ci, system, "ruff_check.sarif", effective_at=clock - 1035 * DAY)  # due in 60 days
    report = retention_report(system, clock)
    assert [r["receipt"] for r in report.due_30] == [soon.receipt_id]
    assert [r["receipt"] for r in report.due_90] == [later.receipt_id]
    data = report.as_json()
    assert data["system"] == system.slug and data["due_within_30_days"][0]["sha256"] == soon.sha256


def test_only_compliance_officers_place_and_release_holds_and_a_reason_is_required(
    system, engineer, compliance_officer, make_user
):
    with pytest.raises(PermissionDenied):
        legal_hold_place(actor=engineer, scope="system", system=system, reason="mine")
    with pytest.raises(ValidationError):
        legal_hold_place(actor=compliance_officer, scope="system", system=system, reason="  ")
    with pytest.raises(ValidationError):
        legal_hold_place(actor=compliance_officer, scope="evidence", evidence_ids=[999999], reason="x")
    hold = legal_hold_place(actor=compliance_officer, scope="system", system=system, reason="audit")
    with pytest.raises(PermissionDenied):
        legal_hold_release(actor=engineer, hold_id=hold.pk, reason="done")
    second_officer = make_user(Role.COMPLIANCE_OFFICER)  # the officer who placed a hold never releases it
    legal_hold_release(actor=second_officer, hold_id=hold.pk, reason="done")
    with pytest.raises(ValidationError):
        legal_hold_release(actor=second_officer, hold_id=hold.pk, reason="again")


def test_detail_rows_stay_immutable_outside_a_disposal(ci, system, clock):
    evidence = upload(ci, system, effective_at=clock - 10 * DAY)
    for sql in (
        "DELETE FROM evidence_evidencerecord WHERE evidence_id = %s",
        "UPDATE evidence_evidencerecord SET ordinal = ordinal WHERE evidence_id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL portal.retention_dispose = 'on'")  # the flag alone is not enough
            cursor.execute(sql, [evidence.pk])


def test_disposal_rows_are_append_only(ci, system, clock):
    evidence = upload(ci, system, effective_at=clock - 2000 * DAY)
    retention_dispose_due(now=clock)
    with pytest.raises(DatabaseError), transaction.atomic():
        Disposal.objects.filter(receipt=evidence.receipt).update(schedule="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        Disposal.objects.filter(receipt=evidence.receipt).delete()


def test_disposal_task_runs_on_a_real_worker(celery_worker, transactional_db, ci, system):
    from apps.retention.tasks import retention_dispose_due as task
    from tests.conftest import wait_until

    evidence = upload(ci, system, effective_at=timezone.now() - 2000 * DAY)
    task.delay()
    wait_until(lambda: Disposal.objects.filter(receipt=evidence.receipt).exists())
    wait_until(lambda: not blob_exists(evidence.sha256))


def test_the_raw_download_of_disposed_evidence_answers_410_naming_the_schedule(ci, system, clock, client,
                                                                              compliance_officer):
    evidence = upload(ci, system, effective_at=clock - 1000 * DAY)
    client.force_login(compliance_officer)
    before = client.get(f"/evidence/{evidence.pk}/raw")
    assert before.status_code == 200 and before["X-Evidence-SHA256"] == evidence.sha256
    assert b"".join(before.streaming_content) == fixture_bytes("junit_pytest.xml")
    assert retention_dispose_due(now=evidence_retention(evidence).receipt_kept_until + DAY) == 1
    after = client.get(f"/evidence/{evidence.pk}/raw")
    assert after.status_code == 410
    assert "disposed of" in after.content.decode() and "'default'" in after.content.decode()
    assert client.get(f"/evidence/{evidence.pk}/").status_code == 200  # the record itself stays readable
