"""Lineage walks in PostgreSQL against a brute-force traversal (networkx) on generated graphs."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from apps.evidence.lineage import (
    LineageQueryError,
    canonical_relation,
    impact_roots,
    lineage_impact,
    lineage_path,
    lineage_walk,
    production_for_system,
)
from apps.evidence.models import Artifact
from apps.inventory.models import System


def random_graph(seed: int, n: int, m: int, *, cycles: bool) -> list[tuple[int, int, str]]:
    rng = random.Random(seed)
    edges = set()
    while len(edges) < m:
        a, b = rng.randrange(n), rng.randrange(n)
        if a == b or (not cycles and a > b):
            continue
        edges.add((a, b, rng.choice(["built-from", "derived-from", "depends-on"])))
    return sorted(edges)


def bfs_depths(graph: nx.DiGraph, root: int, depth: int, *, upstream: bool) -> dict[int, int]:
    g = graph.reverse(copy=False) if upstream else graph
    return nx.single_source_shortest_path_length(g, root, cutoff=depth)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("cycles", [False, True])
def test_walks_match_a_brute_force_traversal(make_graph, admin_user, seed, cycles):
    n, m = 120, 360
    edges = random_graph(seed, n, m, cycles=cycles)
    ids = make_graph(n, edges)
    back = {v: k for k, v in ids.items()}
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((a, b) for a, b, _ in edges)
    rng = random.Random(seed * 7)
    for _ in range(6):
        root, depth = rng.randrange(n), rng.choice([1, 2, 3, 5, 10])
        for direction in ("upstream", "downstream"):
            walk = lineage_walk(user=admin_user, artifact_id=ids[root], direction=direction, depth=depth)
            got = {back[node.id]: node.depth for node in walk.nodes}
            assert got == bfs_depths(graph, root, depth, upstream=direction == "upstream")
            assert [(x.depth, x.id) for x in walk.nodes] == sorted((x.depth, x.id) for x in walk.nodes)
            for link in walk.edges:
                assert (back[link.source], back[link.target]) in graph.edges


def test_a_cycle_ends_at_the_depth_limit_and_each_node_appears_once(make_graph, admin_user):
    ids = make_graph(3, [(0, 1, "derived-from"), (1, 2, "derived-from"), (2, 0, "derived-from")])
    walk = lineage_walk(user=admin_user, artifact_id=ids[0], direction="downstream", depth=50)
    assert sorted((n.id, n.depth) for n in walk.nodes) == sorted([(ids[0], 0), (ids[1], 1), (ids[2], 2)])


def test_depth_limits_the_walk(make_graph, admin_user):
    chain = [(i, i + 1, "built-from") for i in range(20)]
    ids = make_graph(21, chain)
    walk = lineage_walk(user=admin_user, artifact_id=ids[20], direction="upstream", depth=4)
    assert {n.depth for n in walk.nodes} == {0, 1, 2, 3, 4}
    assert len(walk.nodes) == 5
    with pytest.raises(LineageQueryError):
        lineage_walk(user=admin_user, artifact_id=ids[0], direction="upstream", depth=0)
    with pytest.raises(LineageQueryError):
        lineage_walk(user=admin_user, artifact_id=ids[0], direction="sideways", depth=3)


def test_pages_cover_the_whole_walk_without_overlap(make_graph, admin_user):
    # a root with 30 children, each with 4 grandchildren: 151 nodes
    edges = [(0, c, "contains") for c in range(1, 31)]
    edges += [(c, 31 + (c - 1) * 4 + k, "contains") for c in range(1, 31) for k in range(4)]
    ids = make_graph(151, edges)
    seen, after, pages = [], "", 0
    while True:
        walk = lineage_walk(user=admin_user, artifact_id=ids[0], direction="downstream", depth=5, limit=40, after=after)
        seen += [n.id for n in walk.nodes]
        pages += 1
        if not walk.next_after:
            break
        after = walk.next_after
    assert pages == 4
    assert len(seen) == len(set(seen)) == 151


def test_path_is_a_shortest_chain_either_way_round(make_graph, admin_user):
    edges = [(0, 1, "built-from"), (1, 2, "built-from"), (2, 3, "built-from"), (0, 4, "trained-on"), (4, 3, "x")]
    ids = make_graph(5, edges)
    path = lineage_path(user=admin_user, from_id=ids[0], to_id=ids[3])
    assert [(link.source, link.target) for link in path] == [(ids[0], ids[4]), (ids[4], ids[3])]
    backwards = lineage_path(user=admin_user, from_id=ids[3], to_id=ids[0])
    assert len(backwards) == 2
    unrelated = make_graph(1, [])
    assert lineage_path(user=admin_user, from_id=ids[0], to_id=unrelated[0]) == []


@pytest.mark.parametrize("seed", [5, 6])
def test_path_length_matches_networkx(make_graph, admin_user, seed):
    edges = random_graph(seed, 80, 200, cycles=True)
    ids = make_graph(80, edges)
    graph = nx.DiGraph((a, b) for a, b, _ in edges)
    rng = random.Random(seed)
    for _ in range(10):
        a, b = rng.randrange(80), rng.randrange(80)
        if a == b or a not in graph or b not in graph:
            continue
        path = lineage_path(user=admin_user, from_id=ids[a], to_id=ids[b], depth=50)
        try:
            expected = nx.shortest_path_length(graph, a, b)
        except nx.NetworkXNoPath:
            try:
                expected = nx.shortest_path_length(graph, b, a)
            except nx.NetworkXNoPath:
                expected = 0
        assert len(path) == expected


def test_impact_finds_production_deployments_depending_on_a_dataset_or_a_package(make_graph, admin_user):
    dataset = "dataset:sha256:" + "ab" * 32
    uris = {
        0: dataset,
        1: "mlflow-run:r1",
        2: "mlflow://scorer/3",
        3: "oci://registry.test/team/scorer@sha256:" + "cd" * 32,
        4: "deployment:oci/registry.test/team/scorer/prod/cdcdcdcdcdcd",
        5: "deployment:https://github.com/o/r/staging/9",
        6: "pkg:pypi/requests@2.32.3",
        7: "deployment:mlflow/scorer/champion/3",
    }
    kinds = {
        0: "dataset",
        1: "run",
        2: "model-version",
        3: "image",
        4: "deployment",
        5: "deployment",
        6: "package",
        7: "deployment",
    }
    edges = [
        (0, 1, "trained-on"),
        (1, 2, "derived-from"),
        (2, 3, "built-from"),
        (3, 4, "deployed-as"),
        (3, 5, "deployed-as"),
        (6, 3, "contains"),
        (2, 7, "promoted-to"),
    ]
    ids = make_graph(8, edges, kinds=kinds, uris=uris)
    roots = impact_roots(dataset=dataset)
    assert roots == [ids[0]]
    found = lineage_impact(user=admin_user, roots=roots)
    assert [(d["deployment"].id, d["environment"]) for d in found] == [(ids[7], "champion"), (ids[4], "prod")]
    everything = lineage_impact(user=admin_user, roots=roots, production_only=False)
    assert {d["deployment"].id for d in everything} == {ids[4], ids[5], ids[7]}
    by_purl = lineage_impact(user=admin_user, roots=impact_roots(purl="pkg:pypi/requests"))
    assert [d["deployment"].id for d in by_purl] == [ids[4]]
    assert impact_roots(purl="pkg:pypi/requests@9.9") == []


def test_production_for_a_system_lists_what_trained_it(make_graph, admin_user):
    system = System.objects.create(name="Scorer", slug="scorer", risk_tier="high")
    uris = {
        0: "dataset:sha256:" + "12" * 32,
        1: "mlflow-run:r9",
        2: "mlflow://scorer/9",
        3: "deployment:mlflow/scorer/production/9",
        4: "deployment:mlflow/scorer/staging/9",
    }
    kinds = {0: "dataset", 1: "run", 2: "model-version", 3: "deployment", 4: "deployment"}
    ids = make_graph(
        5,
        [(0, 1, "trained-on"), (1, 2, "derived-from"), (2, 3, "promoted-to"), (2, 4, "promoted-to")],
        kinds=kinds,
        uris=uris,
        system=system,
    )
    result = production_for_system(user=admin_user, system_id=system.pk)
    assert [r["deployment"].pk for r in result] == [ids[3]]
    assert [(n.kind, n.depth) for n in result[0]["upstream"]] == [("model-version", 1), ("run", 2), ("dataset", 3)]


def test_older_relation_names_read_as_the_vocabulary(make_graph, admin_user):
    ids = make_graph(2, [(0, 1, "deployed-from")])
    walk = lineage_walk(user=admin_user, artifact_id=ids[1], direction="upstream", depth=1)
    assert [e.relation for e in walk.edges] == ["deployed-as"]
    assert canonical_relation("released-from") == "built-from"


def test_a_scoped_auditor_walks_only_edges_of_evidence_they_may_see(make_graph, make_user):
    from tests.engagements.conftest import engaged_auditor

    visible = System.objects.create(name="Visible", slug="visible", risk_tier="low")
    hidden = System.objects.create(name="Hidden", slug="hidden", risk_tier="low")
    ids = make_graph(2, [(0, 1, "built-from")], system=visible)
    more = make_graph(1, [], system=hidden)
    from apps.evidence.models import Evidence, LineageEdge
    from tests.lineage.conftest import _evidence

    LineageEdge.objects.create(
        source_id=ids[1],
        target_id=more[0],
        relation="deployed-as",
        evidence=_evidence(hidden),
        created_at=Evidence.objects.first().received_at,
    )
    # A real auditor of an engagement over the visible system (issue 9 replaced the stand-in scoping here).
    auditor = engaged_auditor(make_user, [visible])
    walk = lineage_walk(user=auditor, artifact_id=ids[0], direction="downstream", depth=5)
    assert {n.id for n in walk.nodes} == {ids[0], ids[1]}
    assert Artifact.objects.filter(pk=more[0]).exists()
