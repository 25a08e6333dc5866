"""GitHub and GitLab deliveries: verified, deduplicated, every bad input refused with nothing written."""

import json

import pytest

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse
from apps.ledger.models import PendingEntry
from tests.ingest.conftest import COMMIT, fixture_bytes, github_signature, post_github, post_gitlab

pytestmark = pytest.mark.django_db

GITHUB_EVENTS = [
    ("workflow_run", "github/workflow_run.completed.json", "pipeline-run"),
    ("workflow_job", "github/workflow_job.completed.failure.json", "job"),
    ("check_run", "github/check_run.completed.json", "check-run"),
    ("check_suite", "github/check_suite.completed.json", "check-suite"),
    ("deployment", "github/deployment.created.json", "deployment"),
    ("deployment_status", "github/deployment_status.created.json", "deployment"),
    ("release", "github/release.published.json", "release"),
    ("push", "github/push.tag_deleted.json", "push"),
    ("package", "github/package.published.npm.json", "package"),
    ("registry_package", "github/registry_package.published.docker.json", "package"),
    ("ping", "github/ping.json", "ping"),
]


def _nothing_written(before_ledger: int) -> bool:
    return not Receipt.objects.exists() and PendingEntry.objects.count() == before_ledger


def test_signed_delivery_is_accepted_and_queued_after_commit(client, github, django_capture_on_commit_callbacks):
    body = fixture_bytes("github/workflow_run.completed.json")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_github(client, github, "workflow_run", body, delivery="d-1")
    assert response.status_code == 202
    receipt = Receipt.objects.get()
    assert response.json() == {
        "receipt": str(receipt.pk),
        "sha256": receipt.sha256,
        "state": "queued",
        "duplicate": False,
    }
    assert receipt.delivery_key == "d-1" and receipt.event == "workflow_run" and receipt.size == len(body)
    assert "X-Hub-Signature-256" not in json.dumps(receipt.headers) and github.secret not in json.dumps(receipt.headers)
    assert len(callbacks) == 1
    assert PendingEntry.objects.filter(
        action="receipt.accepted", object_id=str(receipt.pk), actor_type="source"
    ).exists()


def test_replayed_delivery_creates_nothing(client, github):
    body = fixture_bytes("github/ping.json")
    first = post_github(client, github, "ping", body, delivery="same")
    ledger = PendingEntry.objects.count()
    again = post_github(client, github, "ping", body, delivery="same")
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert Receipt.objects.count() == 1 and PendingEntry.objects.count() == ledger


@pytest.mark.parametrize("event,fixture,kind", GITHUB_EVENTS)
def test_each_github_event_becomes_parsed_evidence(client, github, event, fixture, kind):
    response = post_github(client, github, event, fixture_bytes(fixture))
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    assert receipt.state == Receipt.State.PARSED, receipt.error
    evidence = Evidence.objects.get(receipt=receipt)
    assert evidence.kind == kind and evidence.system == github.source.system and evidence.source == github.source


def test_workflow_run_evidence_is_about_its_commit(client, github):
    response = post_github(client, github, "workflow_run", fixture_bytes("github/workflow_run.completed.json"))
    receipt_parse(receipt_id=int(response.json()["receipt"]))
    evidence = Evidence.objects.get()
    assert evidence.subject.uri == COMMIT and evidence.verdict == "pass"
    assert evidence.effective_at != evidence.received_at


def test_unknown_well_formed_event_is_kept_as_generic_evidence(client, github):
    response = post_github(client, github, "star", json.dumps({"action": "created", "starred_at": None}).encode())
    assert response.status_code == 202
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    assert receipt.state == "parsed" and Evidence.objects.get().kind == "generic"


@pytest.mark.parametrize(
    "kwargs,status,message",
    [
        ({"signature": ""}, 401, "missing X-Hub-Signature-256"),
        # Issue 23: every refusal of a named source reads the same (nothing about ids, kinds or secrets).
        ({"signature": "sha256=" + "0" * 64}, 401, "webhook refused"),
        ({"secret": "not-the-secret"}, 401, "webhook refused"),
        ({"query": ""}, 401, "?source=<id>"),
        ({"query": "source=999999"}, 401, "webhook refused"),
        ({"query": "source=abc"}, 401, "not a source id"),
        ({"event": ""}, 400, "missing X-GitHub-Event"),
        ({"body": b"{not json"}, 400, "not valid JSON"),
        ({"body": b"[1, 2]"}, 400, "JSON object"),
        ({"content_type": "application/x-www-form-urlencoded"}, 400, "application/json"),
    ],
)
def test_bad_github_deliveries_are_refused_and_write_nothing(client, github, kwargs, status, message):
    ledger = PendingEntry.objects.count()
    kwargs = dict(kwargs)
    body = kwargs.pop("body", fixture_bytes("github/ping.json"))
    event = kwargs.pop("event", "ping")
    response = post_github(client, github, event, body, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert _nothing_written(ledger)


def test_signature_is_checked_on_the_exact_raw_bytes(client, github):
    body = fixture_bytes("github/ping.json")
    reformatted = json.dumps(json.loads(body)).encode()
    response = post_github(client, github, "ping", reformatted, signature=github_signature(github.secret, body))
    assert response.status_code == 401


def test_a_gitlab_source_cannot_use_the_github_endpoint(client, gitlab):
    body = fixture_bytes("github/ping.json")
    assert post_github(client, gitlab, "ping", body, secret=gitlab.secret).status_code == 401


def test_oversized_body_gets_413_before_anything_is_written(client, github, settings):
    settings.PORTAL_INGEST_MAX_BYTES = 1024
    ledger = PendingEntry.objects.count()
    body = json.dumps({"zen": "x" * 2000}).encode()
    response = post_github(client, github, "ping", body)
    assert response.status_code == 413 and "1024" in response.json()["error"]
    assert _nothing_written(ledger)


def test_too_many_requests_from_one_source_get_429(client, github, gitlab, settings):
    import redis

    conn = redis.Redis.from_url(settings.REDIS_URL)
    for key in conn.scan_iter("portal:ingest-rate:*"):  # counts left by an earlier run with the same ids
        conn.delete(key)
    settings.PORTAL_INGEST_RATE = "2/hour"
    body = fixture_bytes("github/ping.json")
    assert [post_github(client, github, "ping", body).status_code for _ in range(3)] == [202, 202, 429]
    throttled = post_github(client, github, "ping", body)
    assert "Retry-After" in throttled and "more than 2 requests" in throttled.json()["error"]
    assert Receipt.objects.filter(source=github.source).count() == 2
    # Per source: another source is not affected.
    assert post_gitlab(client, gitlab, "Pipeline Hook", fixture_bytes("gitlab/pipeline_hook.json")).status_code == 202


# ---------------------------------------------------------------- GitLab


def test_gitlab_webhook_with_its_token_becomes_pipeline_evidence(client, gitlab):
    response = post_gitlab(client, gitlab, "Pipeline Hook", fixture_bytes("gitlab/pipeline_hook.json"))
    assert response.status_code == 202
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    assert receipt.state == "parsed"
    evidence = Evidence.objects.get()
    assert evidence.kind == "pipeline-run" and evidence.subject.kind == "commit"


@pytest.mark.parametrize(
    "event,fixture",
    [
        ("Job Hook", "gitlab/job_hook.json"),
        ("Deployment Hook", "gitlab/deployment_hook.json"),
        ("Release Hook", "gitlab/release_hook.json"),
        ("Push Hook", "gitlab/push_hook.json"),
    ],
)
def test_each_gitlab_event_is_parsed(client, gitlab, event, fixture):
    response = post_gitlab(client, gitlab, event, fixture_bytes(fixture))
    assert receipt_parse(receipt_id=int(response.json()["receipt"])).state == "parsed"


def test_gitlab_replay_by_event_uuid_creates_nothing(client, gitlab):
    body = fixture_bytes("gitlab/push_hook.json")
    first = post_gitlab(client, gitlab, "Push Hook", body, uuid_="u-1")
    again = post_gitlab(client, gitlab, "Push Hook", body, uuid_="u-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["receipt"] == first.json()["receipt"] and again.json()["duplicate"] is True
    assert Receipt.objects.count() == 1


@pytest.mark.parametrize("token,status,message", [("", 401, "missing X-Gitlab-Token"),
                                                  ("wrong-token", 401, "webhook refused")])
def test_gitlab_without_the_right_token_is_refused(client, gitlab, token, status, message):
    ledger = PendingEntry.objects.count()
    response = post_gitlab(client, gitlab, "Push Hook", fixture_bytes("gitlab/push_hook.json"), token=token)
    assert response.status_code == status and message in response.json()["error"]
    assert _nothing_written(ledger)


def test_gitlab_without_event_header_is_400(client, gitlab):
    response = client.post(
        f"/api/v1/ingest/gitlab?source={gitlab.source.pk}",
        data=b"{}",
        content_type="application/json",
        headers={"X-Gitlab-Token": gitlab.secret},
    )
    assert response.status_code == 400 and "X-Gitlab-Event" in response.json()["error"]
    assert not Receipt.objects.exists()
