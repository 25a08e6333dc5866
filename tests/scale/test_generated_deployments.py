"""generate_scale's deployments have periods as the live path gives them (issue 20): a later
deployment to the same environment ends the earlier one, so "in production" on generated data is
what the `/production` API would say had the deployments been parsed one by one."""

from __future__ import annotations

from collections import defaultdict

import pytest

from apps.evidence.lineage import production_for_system
from apps.evidence.lineage.walk import as_of_window
from apps.evidence.models import LineageEdge
from apps.ledger.models import PendingEntry
from devtools.scale.generator import ScaleSpec, generate

# transaction=True: the generator commits per chunk and rebuilds indexes after its load (as in test_generate_scale).
pytestmark = pytest.mark.django_db(transaction=True)

GENERATED = "deployment:https://git.example.org/"


def _prod_chains() -> dict[int, list[tuple]]:
    """Per system, its generated production deployments as (start, uri), in order of the stating evidence's time."""
    chains: dict[int, list[tuple]] = defaultdict(list)
    edges = LineageEdge.objects.filter(target__kind="deployment", target__uri__startswith=GENERATED).values_list(
        "target__system_id", "target__uri", "evidence__effective_at", "evidence_id"
    )
    for system_id, uri, at, evidence_id in edges:
        if uri.rsplit("/", 2)[-2] == "prod":
            chains[system_id].append((at, evidence_id, uri))
    return {sid: sorted(chain) for sid, chain in chains.items()}


def _generated(running: list[dict]) -> list[str]:
    """The generated deployments among those listed (the demo data's own deployments run beside them)."""
    return [d["deployment"].uri for d in running if d["deployment"].uri.startswith(GENERATED)]


def test_a_later_generated_deployment_to_the_same_environment_ends_the_earlier_one(admin_user):
    generate(
        ScaleSpec(evidence=1000, releases=40, lineage_nodes=300, history_days=1, ledger=False),
        progress=lambda _line: None,
    )
    chains = {sid: chain for sid, chain in _prod_chains().items() if len(chain) >= 2}
    assert chains, "the generated graph has systems with several production deployments"

    for system_id, chain in chains.items():
        running = production_for_system(user=admin_user, system_id=system_id)
        # Only the latest production deployment runs now, since the moment its evidence stated it.
        assert _generated(running) == [chain[-1][2]]
        latest = next(d for d in running if d["deployment"].uri == chain[-1][2])
        assert latest["valid_from"] == chain[-1][0] and latest["valid_to"] is None
        # Just after the first started (and before the second), the first ran.
        (first_at, _, first_uri), (second_at, second_evidence, _) = chain[0], chain[1]
        if second_at > first_at:
            then = production_for_system(
                user=admin_user, system_id=system_id, window=as_of_window(first_at.isoformat())
            )
            assert _generated(then) == [first_uri]
            ended = LineageEdge.objects.get(target__uri=first_uri)
            assert (ended.valid_to, ended.ended_by_id) == (second_at, second_evidence)
    # Each end is on the ledger, as when the live path ends a deployment.
    ends = sum(len(chain) - 1 for chain in _prod_chains().values())
    assert PendingEntry.objects.filter(action="deployment.ended").count() >= ends
