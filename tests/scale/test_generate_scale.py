"""generate_scale: a small data set of the full shape, generated once, checked from every side."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.evidence.lineage import production_for_system
from apps.evidence.lineage.walk import as_of_window
from apps.evidence.models import Artifact, Evidence, EvidenceSubject, LineageEdge
from apps.exceptions.models import Approval, ExceptionRequest
from apps.ingest.models import Receipt
from apps.inventory.models import System
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.policy.models import ControlResult, ControlResultChange, CoverageSnapshot
from devtools.scale.generator import GenerationRefused, ScaleSpec

EVIDENCE = 2000
DEPTH = 7

# transaction=True: the generator commits per chunk like a real bulk load, and verify_ledger reads what
# the sequencer committed; pytest-django empties the tables afterwards.
pytestmark = pytest.mark.django_db(transaction=True)


def _max_upstream_depth() -> int:
    """The longest upstream walk in the graph, in hops (the same recursive walk the lineage queries use)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE up(id, depth) AS ("
            "  SELECT a.id, 0 FROM evidence_artifact a WHERE a.kind = 'deployment'"
            "  UNION SELECT e.source_id, up.depth + 1 FROM up JOIN evidence_lineageedge e ON e.target_id = up.id"
            "  WHERE up.depth < 30"
            ") SELECT max(depth) FROM up"
        )
        return cursor.fetchone()[0]


GENERATED_DEPLOYMENT = "deployment:https://git.example.org/"


def _prod_chains() -> dict[int, list[tuple]]:
    """Per system, its generated production deployments as (start, evidence id, uri), in order of the stating
    evidence's time."""
    chains: dict[int, list[tuple]] = defaultdict(list)
    edges = LineageEdge.objects.filter(
        target__kind="deployment", target__uri__startswith=GENERATED_DEPLOYMENT
    ).values_list("target__system_id", "target__uri", "evidence__effective_at", "evidence_id")
    for system_id, uri, at, evidence_id in edges:
        if uri.rsplit("/", 2)[-2] == "prod":
            chains[system_id].append((at, evidence_id, uri))
    return {sid: sorted(chain) for sid, chain in chains.items()}


def _generated(running: list[dict]) -> list[str]:
    """The generated deployments among those listed (the demo data's own deployments run beside them)."""
    return [d["deployment"].uri for d in running if d["deployment"].uri.startswith(GENERATED_DEPLOYMENT)]


def _assert_only_the_latest_generated_deployment_runs(user) -> None:
    """Issue 20: the generator's deployments have periods as the live path gives them, so "in production" on
    generated data is what `/production` would say had they been parsed one by one (the bulk writer wrote
    none, and every generated deployment ever made was listed as running)."""
    chains = {sid: chain for sid, chain in _prod_chains().items() if len(chain) >= 2}
    assert chains, "the generated graph has systems with several production deployments"
    for system_id, chain in chains.items():
        running = production_for_system(user=user, system_id=system_id)
        # Only the latest production deployment runs now, since the moment its evidence stated it.
        assert _generated(running) == [chain[-1][2]]
        latest = next(d for d in running if d["deployment"].uri == chain[-1][2])
        assert latest["valid_from"] == chain[-1][0] and latest["valid_to"] is None
        # Just after the first started (and before the second), the first ran.
        (first_at, _, first_uri), (second_at, second_evidence, _) = chain[0], chain[1]
        if second_at > first_at:
            then = production_for_system(user=user, system_id=system_id, window=as_of_window(first_at.isoformat()))
            assert _generated(then) == [first_uri]
            ended = LineageEdge.objects.get(target__uri=first_uri)
            assert (ended.valid_to, ended.ended_by_id) == (second_at, second_evidence)
    # Each end is on the ledger, as when the live path ends a deployment.
    ends = sum(len(chain) - 1 for chain in _prod_chains().values())
    recorded = sum(m.objects.filter(action="deployment.ended").count() for m in (PendingEntry, LedgerEntry))
    assert recorded >= ends


def test_generated_data_set_has_the_requested_shape_and_a_verifiable_ledger(client, monkeypatch):
    # Two processes write the evidence, results and rollups (devtools/scale/forked.py), in chunks small
    # enough that each writes several: the set must be whole and the ledger verify all the same.
    monkeypatch.setattr("devtools.scale.evidence.CHUNK", 600)
    monkeypatch.setattr("devtools.scale.results.RESULT_CHUNK", 250)
    out = io.StringIO()
    call_command("generate_scale", evidence=EVIDENCE, lineage_depth=DEPTH, history_days=5, processes=2, stdout=out)
    printed = out.getvalue()
    assert "generated:" in printed and "evidence" in printed
    assert "evidence: 4 chunks written by 2 processes" in printed
    assert re.search(r"control results: \d+ parts written by 2 processes", printed)

    # Counts: the requested evidence, defaults derived from N (releases N/100, lineage nodes N/10,
    # exceptions N/200, at least 8 systems), every item reachable from a parsed receipt.
    generated = Evidence.objects.filter(
        receipt__source__system__isnull=False, receipt__delivery_key__startswith="scale-"
    )
    assert generated.count() == EVIDENCE
    assert Receipt.objects.filter(delivery_key__startswith="scale-", state=Receipt.State.PARSED).count() >= EVIDENCE / 5
    assert Artifact.objects.filter(kind="release", uri__contains="git.example.org").count() == EVIDENCE // 100
    lineage_nodes = Artifact.objects.filter(
        uri__regex=r"(git\.example\.org|registry\.example\.org|lake\.example\.org|^pkg:|-model/)"
    ).count()
    assert EVIDENCE // 10 * 0.9 <= lineage_nodes <= EVIDENCE // 10 * 1.1
    assert (
        ExceptionRequest.objects.filter(justification__startswith="Remediation is planned").count() == EVIDENCE // 200
    )
    assert System.objects.count() >= 8

    # Distributions: tests and scans dominate, verdicts mostly pass with some failures, several kinds.
    kinds = dict(generated.values_list("kind").annotate(n=Count("id")))
    assert kinds["test-report"] > kinds["sbom"] > 0 and len(kinds) >= 10
    verdicts = dict(generated.values_list("verdict").annotate(n=Count("id")))
    assert verdicts["pass"] > 0.55 * EVIDENCE and 0.03 * EVIDENCE < verdicts["fail"] < 0.3 * EVIDENCE
    assert EvidenceSubject.objects.filter(evidence__in=generated, role="primary").count() > 0.9 * EVIDENCE
    statuses = set(ExceptionRequest.objects.values_list("status", flat=True))
    assert {"approved", "pending", "expired"} <= statuses
    assert Approval.objects.exists()
    # Results with history, rollups for every system and day asked for.
    assert ControlResult.objects.count() > 0
    assert ControlResultChange.objects.count() > ControlResult.objects.count()
    today = timezone.localdate()
    for back in range(5):
        day = today - timedelta(days=back)
        assert CoverageSnapshot.objects.filter(day=day).values("system").distinct().count() == System.objects.count()

    # Lineage: the longest upstream walk from a deployment has exactly the requested depth, and every
    # edge names the evidence that stated it.
    assert _max_upstream_depth() == DEPTH
    assert LineageEdge.objects.filter(relation="depends-on").values("target").distinct().count() > 1
    assert not LineageEdge.objects.filter(evidence__isnull=True).exists()
    from apps.accounts.models import User

    _assert_only_the_latest_generated_deployment_runs(User.objects.get(username="compliance"))

    # Ledger: every generated evidence and receipt has its entry, all sequenced; verify_ledger agrees.
    assert not PendingEntry.objects.exists()
    assert LedgerEntry.objects.filter(action="evidence.recorded").count() >= EVIDENCE
    assert LedgerEntry.objects.filter(action="exception.created").count() >= EVIDENCE // 200
    verified = io.StringIO()
    call_command("verify_ledger", stdout=verified)
    assert "ledger OK" in verified.getvalue()

    # The pages render for the compliance officer on the generated data.
    client.force_login(User.objects.get(username="compliance"))
    busiest = System.objects.get(slug="payments-api")
    for path in ("/", f"/systems/{busiest.slug}/", "/systems/", "/evidence/", "/exceptions/"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert "Systems at risk" in client.get("/").content.decode()

    # A second run refuses: evidence and the ledger are append-only, a generated set cannot be replaced.
    with pytest.raises(CommandError, match="already holds a generated data set"):
        call_command("generate_scale", evidence=EVIDENCE, stdout=io.StringIO())
    assert Evidence.objects.count() >= EVIDENCE  # nothing more, nothing less
    assert generated.count() == EVIDENCE


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ScaleSpec(evidence=50), "at least 100"),
        (ScaleSpec(evidence=10_000, releases=1000, lineage_nodes=1000), "cannot hold"),
        (ScaleSpec(evidence=10_000, lineage_depth=2), "at least 3"),
    ],
)
def test_inconsistent_sizes_are_refused_before_anything_is_written(spec, message):
    with pytest.raises(GenerationRefused, match=message):
        spec.resolved()
    assert not Evidence.objects.exists()


def test_default_sizes_follow_the_issue_at_one_million():
    spec = ScaleSpec(evidence=1_000_000).resolved()
    assert (spec.releases, spec.lineage_nodes, spec.exceptions, spec.systems) == (10_000, 100_000, 5_000, 200)


def test_bulk_ledger_entries_are_the_entries_ledger_record_writes():
    import json

    from django.db import transaction

    from apps.ledger.services import ledger_record, ledger_record_many

    data = {"sha256": "ab" * 32, "kind": "test-report", "n": 3}
    with transaction.atomic():
        one = ledger_record(
            actor="system:test", action="evidence.recorded", target=("evidence.evidence", "7"), data=data
        )
        ledger_record_many([("system:test", "evidence.recorded", ("evidence.evidence", "7"), data)])
    rows = list(PendingEntry.objects.order_by("id"))
    assert len(rows) == 2
    single, bulk = (json.loads(bytes(r.canonical)) for r in rows)
    assert bytes(rows[0].canonical) == one.canonical
    single.pop("time"), bulk.pop("time")
    assert single == bulk
    assert (rows[1].action, rows[1].object_type, rows[1].object_id, rows[1].actor_label) == (
        "evidence.recorded",
        "evidence.evidence",
        "7",
        "test",
    )


def test_bulk_ledger_recording_refuses_to_run_outside_a_transaction():
    from apps.ledger.services import LedgerError, ledger_record_many

    with pytest.raises(LedgerError):
        ledger_record_many([("system:test", "x.y", None, {})])
    assert not PendingEntry.objects.exists()
