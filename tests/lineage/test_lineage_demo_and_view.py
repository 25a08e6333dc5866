"""The demo chain (recorded MLflow, registry and OpenLineage documents) and the lineage view on it."""

from __future__ import annotations

import pytest

from apps.evidence.lineage import lineage_walk, production_for_system
from apps.evidence.lineage.svg import lineage_svg
from apps.evidence.models import Artifact, Evidence
from apps.inventory.models import System
from devtools.demo.connectors import TRAINING_DATA_SHA256, demo_connectors_seed
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def demo(db, admin_user):
    for slug, name in (("fraud-detection", "Fraud detection"), ("data-platform", "Data platform")):
        System.objects.create(name=name, slug=slug, risk_tier="high")
    assert demo_connectors_seed(actor=admin_user) > 0
    assert demo_connectors_seed(actor=admin_user) == 0  # idempotent
    return Artifact.objects.get(uri="mlflow://fraud-detector/1")


def test_the_demo_model_version_has_metrics_fairness_approval_and_lineage_both_ways(demo, admin_user):
    kinds = set(Evidence.objects.filter(subject_links__artifact=demo).values_list("kind", flat=True))
    assert {"model-version", "metrics", "fairness", "approval", "model-card"} <= kinds
    walk = lineage_walk(user=admin_user, artifact_id=demo.pk, direction="upstream", depth=5)
    up = {n.uri for n in walk.nodes}
    assert f"dataset:sha256:{TRAINING_DATA_SHA256}" in up
    assert any(uri.startswith("git+https://github.com/octo-org/fraud-model@") for uri in up)
    # the feature job that made the training data, and the warehouse table it read
    assert "openlineage-job:airflow://prod/features.build_transactions" in up
    assert "openlineage-dataset:postgres://warehouse:5432/bank.public.card_transactions" in up
    down = lineage_walk(user=admin_user, artifact_id=demo.pk, direction="downstream", depth=3).nodes
    assert {"image", "deployment"} <= {n.kind for n in down}
    fraud = System.objects.get(slug="fraud-detection")
    production = production_for_system(user=admin_user, system_id=fraud.pk)
    assert production and all("model-version" in {n.kind for n in p["upstream"]} for p in production)


def test_lineage_svg_is_a_layered_drawing_with_links_and_a_highlighted_path(demo, admin_user):
    image = Artifact.objects.filter(kind="image", uri__startswith="oci://registry.demo.internal/").first()
    svg = lineage_svg(demo, "both", 4, highlight=image.pk, user=admin_user)
    assert svg.startswith("<svg")
    assert f'href="/evidence/artifacts/{image.pk}/"' in svg
    assert f'id="lineage_node_{demo.pk}"' in svg
    assert "#d97706" in svg  # the path to the image is drawn in the highlight colour


def test_the_panel_answers_htmx_with_the_fragment(demo, client, admin_user):
    client.force_login(admin_user)
    page = client.get(f"/evidence/artifacts/{demo.pk}/")
    assert page.status_code == 200 and b'id="lineage-panel"' in page.content and b"<svg" in page.content
    fragment = client.get(f"/evidence/artifacts/{demo.pk}/lineage/?direction=upstream&depth=2", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and fragment.content.lstrip().startswith(b"<section")


def test_lineage_api_pages_and_validates(demo, client, admin_user):
    client.force_login(admin_user)
    response = client.get(f"/api/v1/artifacts/{demo.pk}/lineage?direction=upstream&depth=5&limit=2")
    body = response.json()
    assert response.status_code == 200 and len(body["nodes"]) == 2 and body["next"]
    rest = client.get(body["next"]).json()
    assert {n["id"] for n in rest["nodes"]}.isdisjoint({n["id"] for n in body["nodes"]})
    assert client.get(f"/api/v1/artifacts/{demo.pk}/lineage?depth=99").status_code == 400
    dataset = f"dataset:sha256:{TRAINING_DATA_SHA256}"
    impact = client.get("/api/v1/lineage/impact", {"dataset": dataset}).json()
    assert any(d["environment"] in ("prod", "champion") for d in impact["deployments"])
    fraud = client.get("/api/v1/systems/fraud-detection/production").json()
    assert fraud["system"] == "fraud-detection" and fraud["deployments"]
    image = Artifact.objects.filter(kind="image").first()
    path = client.get("/api/v1/lineage/path", {"from": demo.pk, "to": image.pk}).json()
    assert path["found"] and path["edges"][0]["source"] == str(demo.pk)
    client.logout()
    assert client.get(f"/api/v1/artifacts/{demo.pk}/lineage").status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_artifact_page_shows_the_graph_and_a_node_opens_its_artifact(live_server, page, make_user):
    from apps.accounts.roles import Role

    user = make_user(Role.COMPLIANCE_OFFICER)
    for slug, name in (("fraud-detection", "Fraud detection"), ("data-platform", "Data platform")):
        System.objects.create(name=name, slug=slug, risk_tier="high")
    demo_connectors_seed(actor="system:test")
    model = Artifact.objects.get(uri="mlflow://fraud-detector/1")
    dataset = Artifact.objects.get(uri=f"dataset:sha256:{TRAINING_DATA_SHA256}")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/evidence/artifacts/{model.pk}/")
    graph = page.locator("#lineage-panel svg")
    graph.wait_for()
    assert page.locator(f"#lineage_node_{dataset.pk}").count() == 1
    # htmx: a smaller depth swaps the panel in place
    page.select_option("#lineage-panel select[name=direction]", "upstream")
    page.wait_for_function("document.querySelector('#lineage-panel select[name=direction]').value === 'upstream'")
    page.locator(f"#lineage_node_{dataset.pk} a").first.wait_for()
    page.locator(f"#lineage_node_{dataset.pk} a").first.click()
    page.wait_for_url(f"{live_server.url}/evidence/artifacts/{dataset.pk}/")
    assert page.locator("h1").inner_text() == (dataset.name or dataset.uri)
