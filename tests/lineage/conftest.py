"""Graphs written straight into the lineage tables: artifacts and edges in bulk, one evidence row behind them."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from apps.evidence.models import Artifact, Evidence, LineageEdge
from apps.ingest.services import receipt_accept, source_create
from apps.inventory.models import System


def _evidence(system: System | None) -> Evidence:
    creds = source_create(actor="system:test", kind="generic-ci", name=f"graph-{random.random()}", system=system)
    receipt, _ = receipt_accept(source=creds.source, channel="upload", body=b"graph", enqueue=False)
    now = timezone.now()
    return Evidence.objects.create(
        receipt=receipt,
        source=creds.source,
        system=system,
        kind="generic",
        format="generic",
        title="graph",
        verdict="info",
        received_at=now,
        effective_at=now,
        effective_basis="received",
        sha256=receipt.sha256,
    )


@pytest.fixture
def make_graph(db):
    """make_graph(n, edges, kinds=None, system=None) -> {index: artifact id}; edges are (i, j, relation) on indexes."""

    def _make(
        n: int,
        edges: list[tuple],
        *,
        kinds: dict | None = None,
        uris: dict | None = None,
        system: System | None = None,
        evidence: Evidence | None = None,
    ) -> dict[int, int]:
        now = timezone.now()
        tag = random.getrandbits(48)
        Artifact.objects.bulk_create(
            [
                Artifact(
                    kind=(kinds or {}).get(i, "other"),
                    uri=(uris or {}).get(i, f"test:{tag}/{i}"),
                    name=f"node {i}",
                    first_seen=now,
                    system=system,
                )
                for i in range(n)
            ]
        )
        wanted = [(uris or {}).get(i, f"test:{tag}/{i}") for i in range(n)]
        by_uri = dict(Artifact.objects.filter(uri__in=wanted).values_list("uri", "id"))
        ids = {i: by_uri[wanted[i]] for i in range(n)}
        ev = evidence or _evidence(system)
        LineageEdge.objects.bulk_create(
            [
                LineageEdge(source_id=ids[a], target_id=ids[b], relation=rel, evidence=ev, created_at=now)
                for a, b, rel in dict.fromkeys(edges)
            ],
            ignore_conflicts=True,
        )
        return ids

    return _make
