"""Scoping proofs: lineage walks (API, panel, SVG, neighbour lists) and the home page's system counts
never show an auditor anything outside their engagement's systems and observation window."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.evidence.models import Artifact, LineageEdge
from tests.engagements.conftest import open_engagement

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)
DATASET = "dataset:sha256:" + "ab" * 32


@pytest.fixture
def graph(world):
    """commit → image → deployment of the in-scope system, stated by its in-window evidence, crossing into
    Credit Scoring (out of scope) twice, plus an edge stated by in-scope evidence from before the window:

        old-commit ─(old evidence)→ pay-commit → pay-image → pay-deploy
                                         pay-image ─(in-scope evidence)→ credit-image ─(credit evidence)→ credit-deploy
        credit-dataset ─(credit evidence)→ pay-image
    """
    now = timezone.now()

    def artifact(name, kind, system):
        return Artifact.objects.create(kind=kind, uri=f"test:{name}", name=name, system=system, first_seen=now)

    a = {
        "old-commit": artifact("pay-old-commit", "commit", world.system_in),
        "commit": artifact("pay-commit", "commit", world.system_in),
        "image": artifact("pay-image", "image", world.system_in),
        "deploy": artifact("pay-deploy", "deployment", world.system_in),
        "credit-image": artifact("credit-secret-image", "image", world.system_out),
        "credit-deploy": artifact("credit-secret-deploy", "deployment", world.system_out),
        "credit-dataset": Artifact.objects.create(kind="dataset", uri=DATASET, name="credit-secret-dataset",
                                                  system=world.system_out, first_seen=now),
    }
    for source, target, evidence in [
        ("old-commit", "commit", world.evidence_old),
        ("commit", "image", world.evidence_in),
        ("image", "deploy", world.evidence_in),
        ("image", "credit-image", world.evidence_in),
        ("credit-image", "credit-deploy", world.evidence_out),
        ("credit-dataset", "image", world.evidence_out),
    ]:
        LineageEdge.objects.create(source=a[source], target=a[target], relation="built-from", evidence=evidence,
                                   created_at=now)
    # The auditor may open the pay-image page: in-scope evidence is about it.
    world.evidence_in.subject_links.create(artifact=a["image"], role="subject")
    return a


IN_SCOPE = ("commit", "image", "deploy")
OUT_OF_SCOPE = ("old-commit", "credit-image", "credit-deploy", "credit-dataset")


def _assert_only_in_scope(text: str, graph, in_scope=IN_SCOPE):
    for key in in_scope:
        assert graph[key].name in text, key
    for key in OUT_OF_SCOPE:
        assert graph[key].name not in text, key
        assert graph[key].uri not in text, key


def test_an_officer_sees_the_whole_graph(client, world, graph):
    client.force_login(world.officer)
    body = client.get(f"/api/v1/artifacts/{graph['image'].pk}/lineage?direction=upstream&depth=5").json()
    assert {n["name"] for n in body["nodes"]} >= {"pay-old-commit", "pay-commit", "credit-secret-dataset"}


def test_the_lineage_api_never_shows_an_auditor_an_out_of_scope_node(client, world, graph):
    client.force_login(world.auditor_in)
    seen_ids, seen_text = set(), ""
    for direction in ("upstream", "downstream"):
        response = client.get(f"/api/v1/artifacts/{graph['image'].pk}/lineage?direction={direction}&depth=10")
        assert response.status_code == 200
        body = response.json()
        seen_ids |= {n["id"] for n in body["nodes"]} | {e["source"] for e in body["edges"]} | {
            e["target"] for e in body["edges"]}
        seen_text += response.content.decode()
    assert seen_ids == {str(graph[k].pk) for k in IN_SCOPE}
    _assert_only_in_scope(seen_text, graph)

    # impact analysis from a dataset of the other system: it is not even a root
    impact = client.get(f"/api/v1/lineage/impact?dataset={DATASET}&all=true").json()
    assert impact == {"roots": [], "deployments": []}
    # the artifact API's direct neighbours
    detail = client.get(f"/api/v1/artifacts/{graph['image'].pk}").content.decode()
    assert "pay-commit" in detail and "pay-deploy" in detail
    for key in OUT_OF_SCOPE:
        assert graph[key].name not in detail


def test_the_artifact_page_panel_and_svg_never_show_an_auditor_an_out_of_scope_node(client, world, graph):
    client.force_login(world.auditor_in)
    page = client.get(f"/evidence/artifacts/{graph['image'].pk}/?direction=both&depth=10")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html  # the drawing is there
    _assert_only_in_scope(html, graph)
    for key in OUT_OF_SCOPE:
        assert f"lineage_node_{graph[key].pk}\"" not in html
    panel = client.get(f"/evidence/artifacts/{graph['image'].pk}/lineage/?direction=both&depth=10").content.decode()
    assert "lineage_node_" in panel
    _assert_only_in_scope(panel, graph, in_scope=("commit", "deploy"))  # the panel names the root only in the page


def test_two_engagements_never_pair_one_window_with_the_other_systems(client, world, graph):
    """A second engagement gives the same auditor Credit Scoring, but for a window long ago: the credit
    evidence of last week (credit-image → credit-deploy) stays out of the walk."""
    now = timezone.now()
    open_engagement(world.officer, auditors=[world.auditor_in], systems=[world.system_out], name="Old credit audit",
                    observation=(now - 400 * DAY, now - 300 * DAY))
    client.force_login(world.auditor_in)
    body = client.get(f"/api/v1/artifacts/{graph['image'].pk}/lineage?direction=downstream&depth=10").json()
    names = {n["name"] for n in body["nodes"]}
    # credit-image is now of a system the auditor may see, reached by an in-scope edge; its onward
    # edge is stated by evidence outside the credit engagement's window.
    assert "credit-secret-deploy" not in names
    assert {"pay-image", "pay-deploy"} <= names


def test_the_home_page_counts_only_the_auditors_systems(client, world):
    client.force_login(world.officer)
    officer = client.get("/").context
    assert officer["summary"]["systems"] == 2 and officer["summary"]["high_risk"] == 2
    client.force_login(world.auditor_in)
    auditor = client.get("/").context
    assert auditor["summary"] == {"systems": 1, "high_risk": 1, "ml_models": 0}  # Payments API (high) only
    assert auditor["risk_chart"]["data"][0]["y"] == [0, 0, 1, 0]  # low, medium, high, critical
    assert auditor["overview"].systems <= 1
    client.force_login(world.auditor_ended)
    assert client.get("/").context["summary"]["systems"] == 0


def test_an_auditors_ndjson_walk_holds_no_out_of_scope_node(client, world, graph):
    """The streamed whole walk follows the same scoped edges as the paged one (issue 20)."""
    client.force_login(world.auditor_in)
    seen_ids, seen_text = set(), ""
    for direction in ("upstream", "downstream"):
        response = client.get(f"/api/v1/artifacts/{graph['image'].pk}/lineage",
                              {"direction": direction, "depth": 10}, HTTP_ACCEPT="application/x-ndjson")
        assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
        text = b"".join(response.streaming_content).decode()
        lines = [json.loads(line) for line in text.splitlines()]
        seen_ids |= {n["id"] for n in lines} | {up for n in lines for ups in n["upstream"].values() for up in ups}
        seen_text += text
    assert seen_ids == {str(graph[k].pk) for k in IN_SCOPE}
    _assert_only_in_scope(seen_text, graph)
