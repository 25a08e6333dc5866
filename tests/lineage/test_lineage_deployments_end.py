"""Issue 20, hole 2: deployments end. A moved alias or tag, a new deployment to the same place, an alias
deleted, a stage left or an image deleted from its registry ends the deployment before it; "in
production" means running now, and `as_of=` answers what ran on a past day."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.db import DatabaseError, transaction

from apps.evidence.models import Artifact, LineageEdge
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from apps.ledger.models import PendingEntry

pytestmark = pytest.mark.django_db

REGISTRY, REPOSITORY = "registry.test:5000", "team/scorer"
FIRST, SECOND = "sha256:" + "1a" * 32, "sha256:" + "2b" * 32


@pytest.fixture
def fraud(db):
    return System.objects.create(name="Fraud detection", slug="fraud-detection", risk_tier="high")


@pytest.fixture
def mlflow(fraud):
    return source_create(actor="system:test", kind="mlflow", name="mlflow hooks", system=fraud)


def _webhook(client, creds, entity: str, action: str, at: str, **data):
    """One MLflow 3 registry webhook delivery, signed as MLflow signs it, then parsed."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    body = json.dumps({"entity": entity, "action": action, "timestamp": at, "data": data}).encode()
    delivery, stamp = str(uuid.uuid4()), str(int(time.time()))
    answer = client.post(
        f"/api/v1/ingest/mlflow?source={creds.source.pk}",
        data=body,
        content_type="application/json",
        headers={
            "X-MLflow-Signature": _generate_hmac_signature(creds.secret, delivery, stamp, body.decode()),
            "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": stamp,
        },
    )
    assert answer.status_code == 202, answer.content
    receipt = receipt_parse(receipt_id=int(answer.json()["receipt"]))
    assert receipt.state == "parsed", receipt.error


def _alias(client, creds, version: str, at: str, alias: str = "champion"):
    _webhook(client, creds, "model_version_alias", "created", at, name="fraud-detector", alias=alias, version=version)


def _production(client, user, **params) -> list[str]:
    client.force_login(user)
    answer = client.get("/api/v1/systems/fraud-detection/production", params)
    assert answer.status_code == 200, answer.content
    return [d["deployment"]["uri"] for d in answer.json()["deployments"]]


def _oci(source, event: str, doc: dict):
    receipt, _ = receipt_accept(source=source, channel="oci", body=json.dumps(doc).encode(), event=event, enqueue=False)
    receipt = receipt_parse(receipt_id=receipt.pk)
    assert receipt.state == "parsed", receipt.error


def _tag_move(source, digest: str, previous: str | None, at: str, tag: str = "prod"):
    doc = {"document": "oci.tag-move/v1", "registry": REGISTRY, "repository": REPOSITORY, "tag": tag,
           "previous_digest": previous, "digest": digest, "observed_at": at}  # fmt: skip
    _oci(source, "sync.tag_move", doc)


def _running(**params) -> set[str]:
    from apps.evidence.lineage import deployments_running

    return {a.uri for a in deployments_running(**params)}


CHAMPION_1 = "deployment:mlflow/fraud-detector/champion/1"
CHAMPION_2 = "deployment:mlflow/fraud-detector/champion/2"


def test_a_moved_mlflow_alias_ends_the_deployment_it_moved_from(client, admin_user, mlflow):
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")
    _alias(client, mlflow, "2", "2026-03-05T10:00:00Z")
    assert _production(client, admin_user) == [CHAMPION_2]
    # What ran in production on a past day, and at a past instant.
    assert _production(client, admin_user, as_of="2026-03-02") == [CHAMPION_1]
    assert _production(client, admin_user, as_of="2026-03-05T09:59:59Z") == [CHAMPION_1]
    assert _production(client, admin_user, as_of="2026-02-27") == []
    # On the day of the move both ran.
    assert sorted(_production(client, admin_user, as_of="2026-03-05")) == [CHAMPION_1, CHAMPION_2]
    ended = LineageEdge.objects.get(target__uri=CHAMPION_1, relation="promoted-to")
    assert ended.valid_from.isoformat() == "2026-03-01T10:00:00+00:00"
    assert ended.valid_to.isoformat() == "2026-03-05T10:00:00+00:00"
    assert ended.ended_by.summary["version"] == "2"
    entry = PendingEntry.objects.get(action="deployment.ended", object_id=str(ended.pk))
    assert CHAMPION_1.encode() in bytes(entry.canonical)


def test_impact_finds_only_the_deployment_running_then(client, admin_user, mlflow):
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")
    _alias(client, mlflow, "2", "2026-03-05T10:00:00Z")
    v1 = Artifact.objects.get(uri="mlflow://fraud-detector/1")
    client.force_login(admin_user)
    now = client.get("/api/v1/lineage/impact", {"artifact": v1.pk}).json()
    assert now["deployments"] == []
    then = client.get("/api/v1/lineage/impact", {"artifact": v1.pk, "as_of": "2026-03-03"}).json()
    assert [d["deployment"]["uri"] for d in then["deployments"]] == [CHAMPION_1]
    assert then["deployments"][0]["valid_to"] == "2026-03-05T10:00:00Z"
    walk = client.get(f"/api/v1/artifacts/{v1.pk}/lineage", {"direction": "downstream", "as_of": "2026-03-06"})
    assert [n["uri"] for n in walk.json()["nodes"]] == ["mlflow://fraud-detector/1"]


def test_an_alias_moved_back_runs_again_from_the_new_move(client, admin_user, mlflow):
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")
    _alias(client, mlflow, "2", "2026-03-05T10:00:00Z")
    _alias(client, mlflow, "1", "2026-03-09T10:00:00Z")  # rolled back
    assert _production(client, admin_user) == [CHAMPION_1]
    assert _production(client, admin_user, as_of="2026-03-07") == [CHAMPION_2]
    periods = LineageEdge.objects.filter(target__uri=CHAMPION_1).order_by("valid_from")
    assert [(p.valid_from.day, p.valid_to and p.valid_to.day) for p in periods] == [(1, 5), (9, None)]


def test_the_same_promotion_seen_twice_is_one_deployment(client, admin_user, mlflow):
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")
    _alias(client, mlflow, "1", "2026-03-02T10:00:00Z")  # a re-sent or re-synced promotion
    assert LineageEdge.objects.filter(target__uri=CHAMPION_1).count() == 1
    assert _production(client, admin_user) == [CHAMPION_1]


def test_a_deleted_alias_and_a_left_stage_end_their_deployments(client, admin_user, mlflow):
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")
    _webhook(client, mlflow, "model_version_alias", "deleted", "2026-03-02T10:00:00Z",
             name="fraud-detector", alias="champion", version="1")  # fmt: skip
    assert _production(client, admin_user) == []
    doc = {"document": "mlflow.stage-change/v1", "previous_stage": "None", "observed_at": "2026-03-03T10:00:00Z",
           "model_version": {"name": "fraud-detector", "version": "1", "current_stage": "Production",
                             "last_updated_timestamp": 1772532000000}}  # fmt: skip
    receipt, _ = receipt_accept(source=mlflow.source, channel="mlflow", body=json.dumps(doc).encode(),
                                event="sync.stage_change", enqueue=False)  # fmt: skip
    assert receipt_parse(receipt_id=receipt.pk).state == "parsed"
    assert _production(client, admin_user) == ["deployment:mlflow/fraud-detector/production/1"]
    doc.update(previous_stage="Production", observed_at="2026-03-04T10:00:00Z")
    doc["model_version"] = {
        **doc["model_version"],
        "current_stage": "Archived",
        "last_updated_timestamp": 1772618400000,
    }
    receipt, _ = receipt_accept(source=mlflow.source, channel="mlflow", body=json.dumps(doc).encode(),
                                event="sync.stage_change", enqueue=False)  # fmt: skip
    assert receipt_parse(receipt_id=receipt.pk).state == "parsed"
    assert _production(client, admin_user) == []
    assert _production(client, admin_user, as_of="2026-03-03T12:00:00Z") == [
        "deployment:mlflow/fraud-detector/production/1"
    ]


def test_a_moved_tag_and_a_registry_delete_end_image_deployments(db):
    registry = source_create(actor="system:test", kind="oci", name="registry")
    _tag_move(registry.source, FIRST, None, "2026-04-01T08:00:00Z")
    _tag_move(registry.source, SECOND, FIRST, "2026-04-02T08:00:00Z")
    prod = f"deployment:oci/{REGISTRY}/{REPOSITORY}/prod/"
    assert _running() == {prod + SECOND[7:19]}
    _tag_move(registry.source, FIRST, None, "2026-04-02T09:00:00Z", tag="staging")
    assert _running() == {prod + SECOND[7:19], f"deployment:oci/{REGISTRY}/{REPOSITORY}/staging/{FIRST[7:19]}"}
    # The registry deletes the first manifest: its staging deployment ends, prod runs on.
    notification = {"events": [{"id": str(uuid.uuid4()), "timestamp": "2026-04-03T08:00:00Z", "action": "delete",
                                "target": {"repository": REPOSITORY, "digest": FIRST,
                                           "url": f"http://{REGISTRY}/v2/{REPOSITORY}/manifests/{FIRST}"},
                                "request": {"host": REGISTRY, "method": "DELETE"}}]}  # fmt: skip
    _oci(registry.source, "notification", notification)
    assert _running() == {prod + SECOND[7:19]}
    from apps.evidence.lineage import as_of_window

    assert len(_running(window=as_of_window("2026-04-01"))) == 1


def _github_deployment(source, number: int, day: str, state: str) -> str:
    from tests.ingest.conftest import fixture_bytes

    payload = json.loads(fixture_bytes("github/deployment_status.created.json"))
    payload["deployment"] = {**payload["deployment"], "id": number, "environment": "production",
                             "created_at": f"2026-05-{day}T10:00:00Z"}  # fmt: skip
    payload["deployment_status"] = {**payload["deployment_status"], "environment": "production", "state": state,
                                    "created_at": f"2026-05-{day}T10:05:00Z",
                                    "updated_at": f"2026-05-{day}T10:05:00Z"}  # fmt: skip
    receipt, _ = receipt_accept(source=source, channel="github", body=json.dumps(payload).encode(),
                                event="deployment_status", enqueue=False)  # fmt: skip
    assert receipt_parse(receipt_id=receipt.pk).state == "parsed"
    return Artifact.objects.filter(kind="deployment").order_by("-id").values_list("uri", flat=True)[0]


def test_a_new_github_deployment_to_an_environment_ends_the_previous_one(db):
    github = source_create(actor="system:test", kind="github", name="gh")
    first = _github_deployment(github.source, 1, "01", "success")
    second = _github_deployment(github.source, 2, "02", "success")
    assert _running() == {second}
    from apps.evidence.lineage import as_of_window

    assert _running(window=as_of_window("2026-05-01T12:00:00Z")) == {first}


def test_a_failed_deployment_never_runs_and_ends_nothing_else(db):
    github = source_create(actor="system:test", kind="github", name="gh")
    first = _github_deployment(github.source, 1, "01", "success")
    _github_deployment(github.source, 2, "02", "failure")
    assert _running() == {first}


def test_a_promotion_arriving_late_ran_only_until_the_next_one(client, admin_user, mlflow):
    _alias(client, mlflow, "2", "2026-03-05T10:00:00Z")
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")  # delivered after the later move
    assert _production(client, admin_user) == [CHAMPION_2]
    late = LineageEdge.objects.get(target__uri=CHAMPION_1)
    assert late.valid_to.isoformat() == "2026-03-05T10:00:00+00:00"
    assert _production(client, admin_user, as_of="2026-03-03") == [CHAMPION_1]


def test_the_database_lets_a_deployment_edge_end_once_and_nothing_else_change(client, mlflow):
    _alias(client, mlflow, "1", "2026-03-01T10:00:00Z")
    _alias(client, mlflow, "2", "2026-03-05T10:00:00Z")
    ended = LineageEdge.objects.get(target__uri=CHAMPION_1)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LineageEdge.objects.filter(pk=ended.pk).update(valid_to=ended.valid_from)
    running = LineageEdge.objects.get(target__uri=CHAMPION_2)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LineageEdge.objects.filter(pk=running.pk).update(relation="deployed-as")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LineageEdge.objects.filter(pk=running.pk).delete()


def test_a_bad_as_of_is_a_400(client, admin_user, fraud):
    client.force_login(admin_user)
    answer = client.get("/api/v1/systems/fraud-detection/production", {"as_of": "last tuesday"})
    assert answer.status_code == 400
    assert "as_of" in json.dumps(answer.json())


def test_an_alias_move_the_mlflow_sync_saw_ends_the_previous_version(client, admin_user, mlflow):
    """The pull path: the connector's alias-change documents (as in devtools/demo/data/04-…)."""
    for version, previous, at in (("1", None, "2026-06-01T10:00:00+00:00"), ("2", "1", "2026-06-08T10:00:00+00:00")):
        doc = {"document": "mlflow.alias-change/v1", "model": "fraud-detector", "alias": "champion",
               "version": version, "previous_version": previous, "observed_at": at,
               "model_version": {"name": "fraud-detector", "version": version, "tags": []}}  # fmt: skip
        receipt, _ = receipt_accept(source=mlflow.source, channel="mlflow", body=json.dumps(doc).encode(),
                                    event="sync.alias_change", enqueue=False)  # fmt: skip
        assert receipt_parse(receipt_id=receipt.pk).state == "parsed"
    assert _production(client, admin_user) == [CHAMPION_2]
    assert _production(client, admin_user, as_of="2026-06-07") == [CHAMPION_1]
