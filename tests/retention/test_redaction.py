"""Data minimisation at ingestion: redaction before storage, on real GitHub and GitLab webhook bodies."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from apps.ingest.blobs import blob_read
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse
from apps.ledger.models import LedgerEntry
from apps.ledger.services import ledger_integrate_all
from apps.retention.models import IdentifierFlag, ReceiptRedaction
from apps.retention.policy import retention_policy
from apps.retention.redaction import REDACTED, redact_body
from apps.retention.services import data_policy_set
from tests.ingest.conftest import fixture_bytes, post_github, post_gitlab

pytestmark = pytest.mark.django_db


def _rules(*names):
    return [retention_policy().redaction[n] for n in names]


def _get(doc, path: str):
    node = doc
    for part in path[2:].replace("[", ".[").split("."):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def _set(doc, path: str, value):
    parts = path[2:].replace("[", ".[").split(".")
    node = doc
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    node[parts[-1]] = value


@pytest.mark.parametrize(
    "fixture,expected",
    [
        (
            "github/workflow_run.completed.json",
            {"$.workflow_run.head_commit.author.email", "$.workflow_run.head_commit.author.name"},
        ),
        ("gitlab/push_hook.json", {"$.user_email", "$.user_name"}),
        ("gitlab/pipeline_hook.json", {"$.commit.author.email", "$.commit.author.name"}),
    ],
)
def test_redaction_removes_identities_and_leaves_the_rest_of_a_real_body_intact(fixture, expected):
    body = fixture_bytes(fixture)
    original = json.loads(body)
    result = redact_body(body, _rules("commit-identities"))
    redacted = json.loads(result.body)
    assert expected <= set(result.paths)
    assert result.count == len(result.paths)
    for path in result.paths:
        assert _get(redacted, path) == REDACTED
        assert _get(original, path) not in ("", REDACTED)
    # Put the originals back: everything else is exactly what was received.
    restored = copy.deepcopy(redacted)
    for path in result.paths:
        _set(restored, path, _get(original, path))
    assert restored == original
    assert result.original_sha256 == hashlib.sha256(body).hexdigest()
    assert result.stored_sha256 == hashlib.sha256(result.body).hexdigest() != result.original_sha256
    # Logins stay: separation of duties matches people by them.
    if "sender" in original:
        assert redacted["sender"]["login"] == original["sender"]["login"]


def test_every_commit_author_of_a_github_push_is_redacted():
    doc = json.loads(fixture_bytes("github/workflow_run.completed.json"))
    doc["commits"] = [
        {"id": "a" * 40, "author": {"name": "Jane Roe", "email": "jane@corp.example", "username": "jroe"}},
        {"id": "b" * 40, "committer": {"name": "John Doe", "email": "john@corp.example"}},
    ]
    result = redact_body(json.dumps(doc).encode(), _rules("commit-identities"))
    redacted = json.loads(result.body)
    assert redacted["commits"][0]["author"] == {"name": REDACTED, "email": REDACTED, "username": "jroe"}
    assert redacted["commits"][1]["committer"] == {"name": REDACTED, "email": REDACTED}
    assert b"jane@corp.example" not in result.body and b"John Doe" not in result.body


def test_a_body_nothing_matches_is_stored_byte_for_byte():
    body = fixture_bytes("github/ping.json")
    result = redact_body(body, _rules("commit-identities"))
    assert result.body == body and not result.changed and result.count == 0


def test_signed_github_delivery_is_verified_on_the_original_and_stored_redacted(client, github, system):
    data_policy_set(actor="system:test", system=system, redaction_rules=["commit-identities"])
    body = fixture_bytes("github/workflow_run.completed.json")
    response = post_github(client, github, "workflow_run", body)  # signed over the ORIGINAL bytes
    assert response.status_code == 202, response.content
    receipt = Receipt.objects.get(pk=response.json()["receipt"])
    stored = blob_read(receipt.sha256)
    assert b"matfax@users.noreply.github.com" in body and b"matfax@users.noreply.github.com" not in stored
    assert b"Matthias Fax" not in stored
    assert response.json()["sha256"] == receipt.sha256 == hashlib.sha256(stored).hexdigest()
    redaction = ReceiptRedaction.objects.get(receipt=receipt)
    assert redaction.original_sha256 == hashlib.sha256(body).hexdigest()
    assert redaction.stored_sha256 == receipt.sha256
    assert redaction.rules == ["commit-identities"] and redaction.redacted_count >= 2
    ledger_integrate_all()
    entry = LedgerEntry.objects.get(action="receipt.accepted", object_id=str(receipt.pk))
    data = json.loads(bytes(entry.canonical))["data"]
    assert data["redaction"] == ["commit-identities"] and data["original_sha256"] == redaction.original_sha256
    # The parsed evidence comes from the redacted body.
    receipt_parse(receipt_id=receipt.pk)
    evidence = receipt.evidence.get()
    assert evidence.sha256 == receipt.sha256


def test_gitlab_push_is_stored_without_the_pushers_identity(client, gitlab, system):
    data_policy_set(actor="system:test", system=system, redaction_rules=["commit-identities", "user-names"])
    body = fixture_bytes("gitlab/push_hook.json")
    response = post_gitlab(client, gitlab, "Push Hook", body)
    assert response.status_code == 202, response.content
    receipt = Receipt.objects.get(pk=response.json()["receipt"])
    stored = json.loads(blob_read(receipt.sha256))
    original = json.loads(body)
    assert stored["user_email"] == REDACTED and stored["user_username"] == original["user_username"]
    assert all(c["author"]["email"] == REDACTED for c in stored["commits"])
    assert stored["project"] == original["project"] and stored["checkout_sha"] == original["checkout_sha"]


def test_without_a_data_policy_bodies_are_stored_as_received(client, github):
    body = fixture_bytes("github/workflow_run.completed.json")
    response = post_github(client, github, "workflow_run", body)
    receipt = Receipt.objects.get(pk=response.json()["receipt"])
    assert receipt.sha256 == hashlib.sha256(body).hexdigest()
    assert not ReceiptRedaction.objects.filter(receipt=receipt).exists()


def test_data_policy_change_is_a_ledger_entry_and_refuses_unknown_rules(system, compliance_officer, engineer):
    from django.core.exceptions import PermissionDenied, ValidationError

    data_policy_set(actor=compliance_officer, system=system, redaction_rules=["commit-identities"])
    with pytest.raises(ValidationError):
        data_policy_set(actor=compliance_officer, system=system, redaction_rules=["everything"])
    with pytest.raises(PermissionDenied):
        data_policy_set(actor=engineer, system=system, redaction_rules=[])
    ledger_integrate_all()
    assert LedgerEntry.objects.filter(action="data_policy.changed").count() == 1


def test_detector_flags_evidence_whose_stored_body_carries_direct_identifiers(client, github, ci, system):
    response = post_github(client, github, "workflow_run", fixture_bytes("github/workflow_run.completed.json"))
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    flag = IdentifierFlag.objects.get(evidence=receipt.evidence.get())
    assert flag.counts.get("email", 0) >= 1  # matfax@users.noreply.github.com (noreply@github.com is ignored)
    ledger_integrate_all()
    assert LedgerEntry.objects.filter(action="evidence.identifiers_flagged", object_id=str(receipt.pk)).exists()


def test_detector_counts_phone_and_national_id_patterns_but_stores_no_match():
    from apps.retention.detect import identifiers_count

    body = (
        b'{"note": "call +44 20 7946 0958, SSN 123-45-6789, NINO AB 12 34 56 C, '
        b'mail a.b@corp.example, noreply@github.com"}'
    )
    counts = identifiers_count(body, retention_policy().detector)
    assert counts == {"email": 1, "phone": 1, "us-ssn": 1, "uk-nino": 1}
    assert (
        identifiers_count(
            b'{"run_id": 30433642, "sha": "3484a3fb816e", "at": "2020-01-22T19:33:08Z"}', retention_policy().detector
        )
        == {}
    )


def test_redaction_after_the_policy_is_removed_stops(client, github, system):
    data_policy_set(actor="system:test", system=system, redaction_rules=["commit-identities"])
    data_policy_set(actor="system:test", system=system, redaction_rules=[])
    body = fixture_bytes("github/workflow_run.completed.json")
    receipt = Receipt.objects.get(pk=post_github(client, github, "workflow_run", body).json()["receipt"])
    assert receipt.sha256 == hashlib.sha256(body).hexdigest()
