"""Issue 20, lineage item 1: deployment edges written before they had a period (or by a bulk path that
set none) get one from the data. valid_from is the time of the evidence that
stated the deployment; valid_to is when the next deployment of the same place (alias, tag,
environment) started, and the evidence of that one ended it. Until then such an edge holds whenever
asked, so a superseded deployment stays "in production".

The legacy rows are built as the old code wrote them: an INSERT with no valid_from, valid_to or
ended_by (the bulk path, lineage_edges_bulk_record, wrote them so until it gave deployments periods)."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import DatabaseError, transaction

from apps.evidence.lineage.backfill import deployment_periods_backfill
from apps.evidence.models import Artifact, Evidence, LineageEdge
from apps.ingest.services import receipt_accept, source_create
from apps.inventory.models import System
from apps.ledger.models import PendingEntry

pytestmark = pytest.mark.django_db

CHAMPION_1 = "deployment:mlflow/fraud-detector/champion/1"
CHAMPION_2 = "deployment:mlflow/fraud-detector/champion/2"
CHALLENGER_2 = "deployment:mlflow/fraud-detector/challenger/2"
MARCH_1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
MARCH_5 = datetime(2026, 3, 5, 10, tzinfo=UTC)


@pytest.fixture
def fraud(db):
    return System.objects.create(name="Fraud detection", slug="fraud-detection", risk_tier="high")


def _evidence(system: System, at: datetime, verdict: str = "info") -> Evidence:
    creds = source_create(actor="system:test", kind="mlflow", name=f"mlflow {uuid.uuid4()}", system=system)
    receipt, _ = receipt_accept(source=creds.source, channel="upload", body=uuid.uuid4().bytes, enqueue=False)
    return Evidence.objects.create(
        receipt=receipt, source=creds.source, system=system, kind="model-registry", format="mlflow",
        title="alias moved", verdict=verdict, received_at=at, effective_at=at, effective_basis="content",
        sha256=receipt.sha256,
    )  # fmt: skip


def _artifact(system: System, uri: str, kind: str) -> Artifact:
    return Artifact.objects.create(kind=kind, uri=uri, name=uri.rsplit("/", 2)[-2], first_seen=MARCH_1, system=system)


def _legacy_edges(rows: list[tuple[int, int, str, int, datetime]]) -> int:
    """(source, target, relation, evidence, created_at) edges as the code before periods wrote them:
    no valid_from, valid_to or ended_by."""
    LineageEdge.objects.bulk_create(
        LineageEdge(source_id=s, target_id=t, relation=r, evidence_id=e, created_at=at) for s, t, r, e, at in rows
    )
    return len(rows)


def _legacy_promotion(system: System, version: str, deployment: str, at: datetime, verdict: str = "info") -> int:
    """A promotion as the code before periods wrote it: one edge, no valid_from, valid_to or ended_by."""
    model = Artifact.objects.filter(uri=f"mlflow://fraud-detector/{version}").first()
    model = model or _artifact(system, f"mlflow://fraud-detector/{version}", Artifact.Kind.MODEL_VERSION)
    target = _artifact(system, deployment, Artifact.Kind.DEPLOYMENT)
    evidence = _evidence(system, at, verdict)
    assert _legacy_edges([(model.pk, target.pk, "promoted-to", evidence.pk, at)]) == 1
    return evidence.pk


def _production(client, user, **params) -> list[str]:
    client.force_login(user)
    answer = client.get("/api/v1/systems/fraud-detection/production", params)
    assert answer.status_code == 200, answer.content
    return sorted(d["deployment"]["uri"] for d in answer.json()["deployments"])


def test_a_legacy_superseded_deployment_is_listed_in_production_until_backfilled(client, admin_user, fraud):
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    moved = _legacy_promotion(fraud, "2", CHAMPION_2, MARCH_5)
    # The old rows carry no period: both hold now, so the alias's first version still looks in production.
    assert _production(client, admin_user) == [CHAMPION_1, CHAMPION_2]

    assert deployment_periods_backfill() == 2

    assert _production(client, admin_user) == [CHAMPION_2]
    assert _production(client, admin_user, as_of="2026-03-02") == [CHAMPION_1]
    assert _production(client, admin_user, as_of="2026-02-27") == []
    ended = LineageEdge.objects.get(target__uri=CHAMPION_1)
    assert (ended.valid_from, ended.valid_to, ended.ended_by_id) == (MARCH_1, MARCH_5, moved)
    running = LineageEdge.objects.get(target__uri=CHAMPION_2)
    assert (running.valid_from, running.valid_to, running.ended_by_id) == (MARCH_5, None, None)
    entry = PendingEntry.objects.get(action="deployment.period_backfilled", object_id=str(ended.pk))
    assert CHAMPION_1.encode() in bytes(entry.canonical)


def test_the_backfill_runs_in_small_batches_and_twice_changes_nothing(fraud):
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    _legacy_promotion(fraud, "2", CHAMPION_2, MARCH_5)
    _legacy_promotion(fraud, "3", "deployment:mlflow/fraud-detector/champion/3", datetime(2026, 3, 9, tzinfo=UTC))

    assert deployment_periods_backfill(batch_size=1) == 3
    periods = list(LineageEdge.objects.order_by("valid_from").values_list("valid_from__day", "valid_to__day"))
    assert periods == [(1, 5), (5, 9), (9, None)]
    entries = PendingEntry.objects.filter(action="deployment.period_backfilled").count()

    assert deployment_periods_backfill(batch_size=1) == 0
    assert list(LineageEdge.objects.order_by("valid_from").values_list("valid_from__day", "valid_to__day")) == periods
    assert PendingEntry.objects.filter(action="deployment.period_backfilled").count() == entries


def test_another_alias_or_the_same_deployment_stated_twice_ends_nothing(fraud):
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    _legacy_promotion(fraud, "2", CHALLENGER_2, MARCH_5)  # another slot: champion keeps running
    image = _artifact(fraud, "oci://registry.test/team/scorer@sha256:" + "1a" * 32, Artifact.Kind.IMAGE)
    again = _evidence(fraud, MARCH_5)
    # The same deployment stated again by another edge (an image as well as the model version).
    _legacy_edges([(image.pk, Artifact.objects.get(uri=CHAMPION_1).pk, "deployed-as", again.pk, MARCH_5)])

    assert deployment_periods_backfill() == 3

    assert not LineageEdge.objects.filter(valid_to__isnull=False).exists()
    assert not LineageEdge.objects.filter(valid_from__isnull=True).exists()


def test_a_legacy_failed_deployment_gets_an_empty_period_and_ends_nothing(client, admin_user, fraud):
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    failed = _legacy_promotion(fraud, "2", CHAMPION_2, MARCH_5, verdict="fail")

    assert deployment_periods_backfill() == 2

    assert _production(client, admin_user) == [CHAMPION_1]
    edge = LineageEdge.objects.get(target__uri=CHAMPION_2)
    assert (edge.valid_from, edge.valid_to, edge.ended_by_id) == (MARCH_5, MARCH_5, failed)


def test_a_running_deployment_with_a_period_is_ended_by_a_later_legacy_one(client, admin_user, fraud):
    v1 = _artifact(fraud, "mlflow://fraud-detector/1", Artifact.Kind.MODEL_VERSION)
    first = _artifact(fraud, CHAMPION_1, Artifact.Kind.DEPLOYMENT)
    stated = _evidence(fraud, MARCH_1)
    LineageEdge.objects.create(source=v1, target=first, relation="promoted-to", evidence=stated, created_at=MARCH_1,
                               valid_from=MARCH_1)  # fmt: skip
    later = _legacy_promotion(fraud, "2", CHAMPION_2, MARCH_5)  # written by a path that sets no period

    assert deployment_periods_backfill() == 2

    assert _production(client, admin_user) == [CHAMPION_2]
    ended = LineageEdge.objects.get(target=first)
    assert (ended.valid_to, ended.ended_by_id) == (MARCH_5, later)


def test_the_database_still_refuses_any_other_change_to_an_edge(fraud):
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    model = Artifact.objects.get(uri="mlflow://fraud-detector/1")
    other = _artifact(fraud, "git+https://git.test/fraud@" + "a" * 40, Artifact.Kind.COMMIT)
    _legacy_edges([(other.pk, model.pk, "built-from", _evidence(fraud, MARCH_1).pk, MARCH_1)])
    # A non-deployment edge gets no period, and a period once set does not move.
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LineageEdge.objects.filter(relation="built-from").update(valid_from=MARCH_1)
    deployment_periods_backfill()
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        LineageEdge.objects.filter(target__uri=CHAMPION_1).update(valid_from=MARCH_5)


def test_the_management_command_backfills_and_says_how_many(fraud, capsys):
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    _legacy_promotion(fraud, "2", CHAMPION_2, MARCH_5)

    call_command("backfill_deployment_periods", "--batch-size", "1")

    assert "2 deployment edges" in capsys.readouterr().out
    assert LineageEdge.objects.filter(valid_from__isnull=True).count() == 0


def test_the_data_migration_runs_the_backfill(client, admin_user, fraud):
    migration = importlib.import_module("apps.evidence.migrations.0008_s6h4_backfill_deployment_periods")
    assert migration.Migration.atomic is False  # batches commit one by one on a large table
    _legacy_promotion(fraud, "1", CHAMPION_1, MARCH_1)
    _legacy_promotion(fraud, "2", CHAMPION_2, MARCH_5)

    migration.backfill(django_apps, None)

    assert _production(client, admin_user) == [CHAMPION_2]
