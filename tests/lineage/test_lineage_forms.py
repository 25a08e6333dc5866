"""Issue 20, speed: a walk in the compact form (each node with its upstream ids, no edge list) and the
whole walk streamed as NDJSON carry the same nodes and the same upstream relation as the full form."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.management import call_command

from apps.evidence.lineage import walk as lineage
from tests.lineage.graphs import forget_kept_walks, random_dag

# Two relations on one pair, and an old relation name (read as deployed-as).
RELATIONS = ("built-from", "derived-from", "deployed-from", "deployed-as")

pytestmark = pytest.mark.django_db


def _pages(client, root: int, query: dict) -> list[dict]:
    pages, after = [], ""
    while True:
        response = client.get(f"/api/v1/artifacts/{root}/lineage", {**query, **({"after": after} if after else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body)
        if not body["next"]:
            return pages
        after = body["next"].split("after=", 1)[1].split("&", 1)[0].replace("%3A", ":")


def _full(pages: list[dict]) -> tuple[list[dict], set[tuple[str, str, str]]]:
    nodes = [n for page in pages for n in page["nodes"]]
    return nodes, {(e["source"], e["target"], e["relation"]) for page in pages for e in page["edges"]}


def _compact(nodes: list[dict]) -> tuple[list[dict], set[tuple[str, str, str]]]:
    plain = [{k: v for k, v in n.items() if k != "upstream"} for n in nodes]
    edges = {(up, n["id"], relation) for n in nodes for relation, ups in n["upstream"].items() for up in ups}
    return plain, edges


@pytest.mark.parametrize("direction", ["upstream", "downstream"])
@pytest.mark.parametrize("limit", [5000, 13])
def test_the_compact_form_has_the_nodes_and_upstream_relation_of_the_full_form(
    make_graph, admin_user, client, direction, limit
):
    ids = make_graph(120, random_dag(3, n=120, m=400, relations=RELATIONS))
    client.force_login(admin_user)
    root = ids[0] if direction == "downstream" else ids[119]
    query = {"direction": direction, "depth": 4, "limit": limit}
    forget_kept_walks()
    full = _pages(client, root, {**query, "form": "full"})
    forget_kept_walks()  # the compact pages walk afresh, then slice their own kept walk (limit 13)
    compact = _pages(client, root, {**query, "form": "compact"})
    assert len(full) == len(compact) and (limit == 5000) == (len(full) == 1)
    assert all(p["form"] == "full" and "edges" in p for p in full)
    assert all(p["form"] == "compact" and "edges" not in p for p in compact)
    full_nodes, full_edges = _full(full)
    compact_nodes, compact_edges = _compact([n for p in compact for n in p["nodes"]])
    assert compact_nodes == full_nodes and len(full_nodes) > 20
    assert compact_edges == full_edges and len(full_edges) > 40
    assert all(relation != "deployed-from" for _, _, relation in compact_edges)
    # Each page's upstream ids are of nodes the walk reached.
    walked = {n["id"] for n in full_nodes}
    assert {up for up, _, _ in compact_edges} <= walked


def test_a_large_walk_is_compact_by_default_and_a_small_one_full(make_graph, admin_user, client, monkeypatch):
    ids = make_graph(30, [(0, i, "contains") for i in range(1, 30)])
    client.force_login(admin_user)
    url = f"/api/v1/artifacts/{ids[0]}/lineage"
    assert client.get(url, {"direction": "downstream"}).json()["form"] == "full"
    monkeypatch.setattr(lineage, "COMPACT_ABOVE", 29)  # 30 nodes are now a large walk
    body = client.get(url, {"direction": "downstream"}).json()
    assert body["form"] == "compact" and "edges" not in body and len(body["nodes"]) == 30
    assert body["nodes"][1]["upstream"] == {"contains": [str(ids[0])]}
    assert client.get(url, {"direction": "downstream", "form": "full"}).json()["form"] == "full"
    bad = client.get(url, {"form": "tiny"})
    assert bad.status_code == 400 and "form" in bad.json()["error"]


def _ndjson(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_ndjson_lines_parse_and_equal_the_compact_nodes(make_graph, admin_user, client, direction):
    ids = make_graph(120, random_dag(11, n=120, m=400, relations=RELATIONS))
    client.force_login(admin_user)
    root = ids[0] if direction == "downstream" else ids[119]
    url = f"/api/v1/artifacts/{root}/lineage"
    compact = _pages(client, root, {"direction": direction, "depth": 5, "limit": 17, "form": "compact"})
    nodes = [n for page in compact for n in page["nodes"]]
    by_accept = _ndjson(client.get(url, {"direction": direction, "depth": 5}, HTTP_ACCEPT="application/x-ndjson"))
    by_format = _ndjson(client.get(url, {"direction": direction, "depth": 5, "format": "ndjson"}))
    assert by_accept == by_format == nodes and len(nodes) > 40 and len(compact) > 2


def test_ndjson_errors_are_json(make_graph, admin_user, client):
    ids = make_graph(3, [(0, 1, "built-from")])
    client.force_login(admin_user)
    url = f"/api/v1/artifacts/{ids[0]}/lineage"
    for query in ({"format": "ndjson", "depth": 99}, {"format": "ndjson", "form": "full"}):
        response = client.get(url, query)
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
        assert response.json()["error"]
    missing = client.get("/api/v1/artifacts/999999999/lineage", HTTP_ACCEPT="application/x-ndjson")
    assert missing.status_code == 404 and missing.json()["error"]


def test_the_schema_documents_the_compact_form_and_the_ndjson_stream(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    walk = schema["paths"]["/api/v1/artifacts/{id}/lineage"]["get"]
    params = {p["name"]: p for p in walk["parameters"]}
    assert params["form"]["schema"]["enum"] == ["auto", "compact", "full"]
    assert "ndjson" in params["format"]["schema"]["enum"]
    content = walk["responses"]["200"]["content"]
    assert content["application/x-ndjson"]["schema"]["$ref"].endswith("/CompactNodeOutput")
    components = schema["components"]["schemas"]
    assert "upstream" in components["CompactNodeOutput"]["required"]
    assert "edges" not in components["WalkOutput"]["required"] and "form" in components["WalkOutput"]["required"]
