"""Evaluation after new evidence goes through a durable queue that one task drains many at a time.

Each parse used to send its own `policy_evaluate` message: under a storm of webhooks the default
queue ran one evaluation (rules read and compiled, a sandbox forked, results locked and read) per
receipt, and parsing fell behind accepting. Now the parse writes a PendingEvaluation row in its own
transaction and wakes `policy_evaluate_pending` once; that task takes every pending row at once.
"""

from __future__ import annotations

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, transaction

from apps.evidence.models import EvidenceSubject
from apps.policy.models import ControlResult, PendingEvaluation
from apps.policy.services import evaluation as evaluation_services
from apps.policy.services import policy_evaluate, policy_evaluate_pending
from apps.policy.services.pending import PENDING_FLAG, _wake, evaluation_request
from devtools.demo import policy as demo

from .conftest import make_system


def _push_sbom(source_name="ci marketing-site"):
    from apps.ingest.models import Source

    source = Source.objects.get(name=source_name)
    demo._push(source, "upload", "", demo.MARKETING_RELEASE, demo.demo_release_sbom(), "sbom.cdx.json", None)


def _inputs_of(artifact) -> set[int]:
    """Ids of everything the artifact inherits facts from."""
    from apps.evidence.models import LineageEdge
    from apps.policy.facts import INHERIT_RELATIONS

    inputs, frontier = set(), {artifact.pk}
    while frontier:
        edges = LineageEdge.objects.filter(target_id__in=frontier, relation__in=INHERIT_RELATIONS)
        frontier = set(edges.values_list("source_id", flat=True)) - inputs
        inputs |= frontier
    return inputs


def _open_gate(client, marketing):
    """The release allowed, once its SBOM is evaluated: (release, gate url, CI auth header, an input it
    inherits facts from, an artifact of its system it inherits nothing from)."""
    from apps.evidence.models import Artifact

    release = Artifact.objects.get(uri=demo.MARKETING_RELEASE)
    _push_sbom()
    policy_evaluate()  # a full evaluation answers every request committed before it started
    assert not PendingEvaluation.objects.exists()
    url = f"/api/v1/gates/{release.pk}"
    auth = {"Authorization": f"Bearer {marketing['ci'].token}"}
    assert client.get(url, headers=auth).json()["allowed"] is True
    inputs = _inputs_of(release)
    upstream = Artifact.objects.get(pk=min(inputs))
    unrelated = Artifact.objects.filter(system=marketing["system"]).exclude(pk__in=inputs | {release.pk}).first()
    return release, url, auth, upstream, unrelated


def test_parsing_evidence_leaves_a_pending_evaluation_of_its_artifacts_in_the_same_transaction(
    marketing, django_capture_on_commit_callbacks
):
    PendingEvaluation.objects.all().delete()
    with django_capture_on_commit_callbacks() as callbacks:
        _push_sbom()
    pending = set(PendingEvaluation.objects.values_list("artifact_id", flat=True))
    about = set(EvidenceSubject.objects.filter(evidence__kind="sbom").values_list("artifact_id", flat=True))
    assert about and pending == about
    # one wake-up per committed transaction, not one message per artifact
    assert [cb for cb in callbacks if "_wake" in getattr(cb, "__qualname__", "")]

    # a request made in a transaction that rolls back leaves nothing behind
    artifact = next(iter(about))
    with transaction.atomic():
        evaluation_request(artifact_ids=[artifact])
        transaction.set_rollback(True)
    assert PendingEvaluation.objects.filter(artifact_id=artifact).count() == 1


def test_one_run_evaluates_every_pending_request_and_deletes_them(marketing, clinical):
    PendingEvaluation.objects.all().delete()
    ControlResult.objects.all().delete()
    marketing_artifacts = list(marketing["system"].artifacts.values_list("pk", flat=True))
    with transaction.atomic():
        evaluation_request(artifact_ids=marketing_artifacts)
        evaluation_request(system_ids=[clinical["system"].pk])

    changed = policy_evaluate_pending()

    assert changed > 0
    assert not PendingEvaluation.objects.exists()
    judged_systems = set(ControlResult.objects.values_list("system_id", flat=True))
    assert judged_systems == {marketing["system"].pk, clinical["system"].pk}
    assert set(ControlResult.objects.filter(artifact__isnull=False).values_list("artifact_id", flat=True)) & set(
        marketing_artifacts
    )
    # nothing pending: nothing evaluated, nothing written
    assert policy_evaluate_pending() == 0


@pytest.mark.parametrize(
    "error", [DatabaseError("server closed the connection unexpectedly"), SoftTimeLimitExceeded()], ids=repr
)
def test_an_evaluation_that_fails_or_runs_out_of_time_leaves_its_requests_pending(marketing, monkeypatch, error):
    PendingEvaluation.objects.all().delete()
    artifacts = list(marketing["system"].artifacts.values_list("pk", flat=True))
    with transaction.atomic():
        evaluation_request(artifact_ids=artifacts)

    def fails(**kwargs):
        raise error

    monkeypatch.setattr(evaluation_services, "policy_evaluate", fails)
    with pytest.raises(type(error)):
        policy_evaluate_pending()
    assert set(PendingEvaluation.objects.values_list("artifact_id", flat=True)) == set(artifacts)


def test_a_subject_that_cannot_be_evaluated_does_not_hold_up_the_others(marketing, monkeypatch, caplog):
    PendingEvaluation.objects.all().delete()
    ControlResult.objects.all().delete()
    artifacts = sorted(marketing["system"].artifacts.values_list("pk", flat=True))
    poison = artifacts[0]
    with transaction.atomic():
        evaluation_request(artifact_ids=artifacts)
    real = evaluation_services.policy_evaluate

    def fails_on_poison(**kwargs):
        if poison in (kwargs.get("subject_ids") or ()):
            raise KeyError("a bug that only this subject's facts reach")
        return real(**kwargs)

    monkeypatch.setattr(evaluation_services, "policy_evaluate", fails_on_poison)
    assert policy_evaluate_pending() > 0
    # the others were evaluated, every request is gone, and the failure is in the log, named
    assert ControlResult.objects.filter(artifact_id__in=artifacts[1:]).exists()
    assert not PendingEvaluation.objects.exists()
    assert any(f"artifact_id {poison} failed" in r.getMessage() for r in caplog.records)


def test_requests_made_while_a_wake_up_is_queued_send_no_further_message(marketing):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    cache.delete(PENDING_FLAG)
    before = broker.llen("default")
    try:
        for _ in range(5):
            _wake()
        assert broker.llen("default") == before + 1
    finally:
        cache.delete(PENDING_FLAG)
        broker.delete("default")


def test_the_gate_stays_shut_while_new_evidence_about_the_subject_or_its_inputs_waits(client, marketing):
    release, url, auth, upstream, unrelated = _open_gate(client, marketing)
    for asked, shut in (
        (dict(artifact_ids=[release.pk]), True),
        (dict(artifact_ids=[upstream.pk]), True),
        (dict(system_ids=[marketing["system"].pk]), True),
        (dict(artifact_ids=[unrelated.pk]), False),
    ):
        with transaction.atomic():
            evaluation_request(**asked)
        body = client.get(url, headers=auth).json()
        assert body["allowed"] is (not shut), asked
        assert any(item["rule"] == "evaluation-pending" for item in body["failing"]) is shut, asked
        policy_evaluate_pending()
        assert client.get(url, headers=auth).json()["allowed"] is True

    # An input that belongs to another system (a shared base image, say): its requests do not hold this
    # gate, or another system's sources could keep it shut.
    other = make_system("clinical-records")
    type(upstream).objects.filter(pk=upstream.pk).update(system=other)
    with transaction.atomic():
        evaluation_request(artifact_ids=[upstream.pk])
    assert client.get(url, headers=auth).json()["allowed"] is True


def test_beat_sweeps_pending_requests_a_lost_wake_up_left_behind():
    schedule = settings.CELERY_BEAT_SCHEDULE["policy-evaluate-pending"]
    assert schedule["task"] == "apps.policy.tasks.policy_evaluate_pending"
    assert schedule["schedule"] <= 60


def test_the_gate_stays_shut_while_an_upload_about_the_subject_or_its_inputs_waits_to_be_parsed(client, marketing):
    """A CI job uploads a failing test report about the release, then asks the gate at once. Before the
    report is parsed no PendingEvaluation exists yet: the gate answered from the older results and said
    allowed. An accepted upload that names the subject, or an input of its system, now holds the gate."""
    from apps.ingest.models import Receipt
    from apps.ingest.services import receipt_parse

    release, url, auth, upstream, unrelated = _open_gate(client, marketing)
    failing = (
        b'<testsuite name="smoke" tests="1" failures="1"><testcase name="login" classname="smoke">'
        b'<failure message="500 on /login"/></testcase></testsuite>'
    )
    # An upload about another artifact of the system does not hold it: under a steady stream of CI
    # events one of them is nearly always waiting.
    for named, shut in ((unrelated.uri, False), (release.uri, True), (upstream.uri, True)):
        response = client.post(
            "/api/v1/evidence",
            {"file": SimpleUploadedFile("junit.xml", failing), "subject": named},
            headers=auth,
        )
        assert response.status_code == 202, response.content
        receipt = Receipt.objects.get(pk=response.json()["receipt"])
        assert receipt.state == Receipt.State.QUEUED  # no worker in this test: nothing parsed it
        assert not PendingEvaluation.objects.exists()
        body = client.get(url, headers=auth).json()
        assert any(item["rule"] == "evaluation-pending" for item in body["failing"]) is shut, named
        if not shut:
            assert body["allowed"] is True
        # A worker claimed it (state parsing): the gate still waits. Once parsed and evaluated, it
        # answers from the new results.
        Receipt.objects.filter(pk=receipt.pk).update(state=Receipt.State.PARSING)
        body = client.get(url, headers=auth).json()
        assert any(item["rule"] == "evaluation-pending" for item in body["failing"]) is shut, named
        Receipt.objects.filter(pk=receipt.pk).update(state=Receipt.State.QUEUED)
        receipt_parse(receipt_id=receipt.pk)
        policy_evaluate_pending()
        body = client.get(url, headers=auth).json()
        assert not any(item["rule"] == "evaluation-pending" for item in body["failing"]), named
        if named == release.uri:
            # the report the gate waited for fails the release: the green it gave before was unearned
            assert body["allowed"] is False
            assert body["failing"], body
