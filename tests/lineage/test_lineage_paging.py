"""Paging a walk: the API's JSON pages equal lineage_walk's, later pages slice a walk kept once per
graph version (never an auditor's), and a new edge is seen at once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.evidence.lineage import lineage_walk, lineage_walk_json
from apps.evidence.lineage import walk as lineage
from apps.evidence.models import Artifact, LineageEdge
from tests.lineage.graphs import forget_kept_walks, kept_walk_keys, random_dag

pytestmark = pytest.mark.django_db


def _pages(fetch, root: int, direction: str, depth: int, limit: int) -> list[tuple[list, list]]:
    pages, after = [], ""
    while True:
        nodes, edges, after = fetch(root, direction, depth, limit, after)
        pages.append((nodes, edges))
        if not after:
            return pages


def _walk_pages(user):
    def fetch(root, direction, depth, limit, after):
        walk = lineage_walk(user=user, artifact_id=root, direction=direction, depth=depth, limit=limit, after=after)
        nodes = [{"id": str(n.id), "kind": n.kind, "uri": n.uri, "name": n.name, "depth": n.depth} for n in walk.nodes]
        edges = [{"source": str(e.source), "target": str(e.target), "relation": e.relation} for e in walk.edges]
        return nodes, edges, walk.next_after

    return fetch


def _api_pages(client):
    def fetch(root, direction, depth, limit, after):
        query = {"direction": direction, "depth": depth, "limit": limit}
        if after:
            query["after"] = after
        response = client.get(f"/api/v1/artifacts/{root}/lineage", query)
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        body = response.json()
        assert body["root"] == str(root) and body["direction"] == direction and body["depth"] == depth
        nxt = body["next"].split("after=", 1)[1].split("&", 1)[0].replace("%3A", ":") if body["next"] else ""
        return body["nodes"], body["edges"], nxt

    return fetch


@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_api_pages_equal_lineage_walk_pages_first_and_kept(make_graph, admin_user, client, direction):
    ids = make_graph(160, random_dag(5, n=160, m=520))
    client.force_login(admin_user)
    root = ids[0] if direction == "downstream" else ids[159]
    forget_kept_walks()
    walked = _pages(_walk_pages(admin_user), root, direction, 6, 17)
    forget_kept_walks()
    served = _pages(_api_pages(client), root, direction, 6, 17)
    assert len(walked) >= 3 and served == walked
    # The whole walk once, in (depth, id) order, without overlap; old relation names read as the vocabulary.
    nodes = [n for page, _ in served for n in page]
    assert len({n["id"] for n in nodes}) == len(nodes)
    assert [(n["depth"], int(n["id"])) for n in nodes] == sorted((n["depth"], int(n["id"])) for n in nodes)
    assert all(e["relation"] != "deployed-from" for _, page in served for e in page)


def test_later_pages_of_a_kept_walk_equal_pages_walked_afresh(make_graph, admin_user, monkeypatch):
    ids = make_graph(160, random_dag(9, n=160, m=520))
    forget_kept_walks()
    kept = _pages(_walk_pages(admin_user), ids[0], "downstream", 8, 11)
    key_prefix = f"lineage-walk:v1:{ids[0]}:downstream:8:"
    assert any(key_prefix.encode() in k for k in kept_walk_keys()), "the walk was kept for page 2 on"
    monkeypatch.setattr(lineage, "WALK_CACHE_MAX_NODES", 0)  # nothing may be kept: every page walks
    forget_kept_walks()
    fresh = _pages(_walk_pages(admin_user), ids[0], "downstream", 8, 11)
    assert fresh == kept and len(kept) > 2


def test_a_new_edge_is_seen_by_the_next_page(make_graph, admin_user):
    chain = [(i, i + 1, "built-from") for i in range(9)]
    ids = make_graph(12, chain)
    forget_kept_walks()
    first = lineage_walk(user=admin_user, artifact_id=ids[0], direction="downstream", depth=20, limit=3)
    second = lineage_walk(user=admin_user, artifact_id=ids[0], direction="downstream", depth=20, limit=3,
                          after=first.next_after)
    assert [n.id for n in second.nodes] == [ids[3], ids[4], ids[5]]
    # A new branch from the root: it sorts before what the kept walk had at depth 1.
    LineageEdge.objects.create(source_id=ids[0], target_id=ids[11], relation="built-from",
                               evidence=LineageEdge.objects.filter(source_id=ids[0]).first().evidence,
                               created_at=timezone.now())
    again = lineage_walk(user=admin_user, artifact_id=ids[0], direction="downstream", depth=20, limit=3,
                         after=first.next_after)
    assert {n.id for n in again.nodes} == {ids[3], ids[4], ids[5]}
    everything = lineage_walk(user=admin_user, artifact_id=ids[0], direction="downstream", depth=20)
    assert {n.id for n in everything.nodes} == {ids[i] for i in (*range(10), 11)}


def test_an_auditors_walk_is_never_kept(make_graph, make_user):
    ids = make_graph(30, [(i, i + 1, "built-from") for i in range(29)])
    auditor = make_user(Role.AUDITOR)
    forget_kept_walks()
    walk = lineage_walk_json(user=auditor, artifact_id=ids[0], direction="downstream", depth=40, limit=2,
                             after=f"0:{ids[0]}")
    assert walk.nodes == walk.edges == "[]" and walk.next_after == ""  # no open engagement: no edge to follow
    assert not kept_walk_keys()


def test_the_first_page_is_one_statement_with_json_from_the_database(
    make_graph, admin_user, django_assert_max_num_queries
):
    ids = make_graph(60, [(0, i, "contains") for i in range(1, 60)])
    admin_user.groups.all()  # the role look-up of the scope check is not what is counted here
    with django_assert_max_num_queries(2):  # the scope check's role look-up, then the page
        walk = lineage_walk_json(user=admin_user, artifact_id=ids[0], direction="downstream", depth=2, limit=100)
    assert walk.nodes.startswith("[") and walk.nodes.count('"depth"') == 60 and walk.next_after == ""
    assert Artifact.objects.filter(pk=ids[0]).exists()
