"""Issue 18: the release sign-off page shows the release's evidence chain (tests, scans, SBOM,
provenance, model metrics, fairness, drift) and the gate's full answer, not only the sign-off item."""

from __future__ import annotations

import pytest

from apps.evidence.models import Evidence
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.policy.services import policy_evaluate, policy_evaluate_pending
from apps.releases.selectors import release_evidence_chain, release_gate_answer
from apps.releases.services import release_classify
from tests.ingest.conftest import fixture_bytes
from tests.releases.conftest import SHA_A

pytestmark = pytest.mark.django_db

COMMIT = f"git+https://github.com/Codertocat/Hello-World@{SHA_A}"


def upload(source, fixture: str, *, subject: str, system=None) -> Evidence:
    receipt, _ = receipt_accept(source=source, channel="upload", body=fixture_bytes(fixture), subject=subject,
                                filename=fixture, system=system, enqueue=False)  # fmt: skip
    receipt = receipt_parse(receipt_id=receipt.pk)
    return Evidence.objects.get(receipt=receipt)


@pytest.fixture
def release(world):
    """The fraud model's release, its commit tested and scanned by its own CI, and an SBOM sent by a
    source bound to no system (kept, not counted)."""
    ci = source_create(actor="system:test", kind="generic-ci", name="ci fraud", system=world.system).source
    stray = source_create(actor="system:test", kind="generic-ci", name="ci shared").source
    tests = upload(ci, "junit_pytest.xml", subject=COMMIT)
    scan = upload(ci, "bandit_shell_md5.sarif", subject=COMMIT)
    sbom = upload(stray, "cyclonedx_py_env.cdx.json", subject=COMMIT, system=world.system)
    policy_evaluate()  # everything, which also answers the evaluation requests the uploads left
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    return {"signoff": signoff, "tests": tests, "scan": scan, "sbom": sbom}


def test_the_evidence_chain_lists_each_kind_with_counted_or_not_and_says_none_recorded(world, release):
    chain = {row["label"]: row for row in release_evidence_chain(release["signoff"], user=world.officer)}

    assert list(chain) == ["Tests", "Scans", "SBOM", "Provenance", "Model metrics", "Fairness", "Drift"]
    assert [i["evidence"].pk for i in chain["Tests"]["items"]] == [release["tests"].pk]
    assert chain["Tests"]["items"][0]["counted"] is True and chain["Tests"]["items"][0]["inherited"] is True
    assert [i["evidence"].pk for i in chain["Scans"]["items"]] == [release["scan"].pk]
    sbom = chain["SBOM"]["items"][0]
    assert sbom["evidence"].pk == release["sbom"].pk and sbom["counted"] is False and "not counted" in sbom["why"]
    for label in ("Provenance", "Model metrics", "Fairness", "Drift"):
        assert chain[label]["items"] == []


def test_the_gate_answer_lists_every_failing_control_grouped_by_rule_with_its_message(world, release):
    answer = release_gate_answer(release["signoff"])

    assert answer["allowed"] is False
    rules = {g["rule"]: g for g in answer["failing"]}
    assert "release.signoff.model" in rules  # the sign-off item is one of them, not the only one
    assert len(rules) > 1
    sbom = rules["sbom-for-deployed-image"]
    assert sbom["items"] and all(i["message"] for i in sbom["items"])
    assert sum(len(g["items"]) for g in answer["failing"]) == answer["failing_count"]


def test_the_sign_off_page_leads_with_the_summary_then_shows_the_chain_and_the_gate(client, world, release):
    client.force_login(world.owner1)

    page = client.get(release["signoff"].get_absolute_url()).content.decode()

    assert page.index("Sign-off summary") < page.index("Evidence chain") < page.index("Gate answer")
    assert "none recorded" in page and "not counted" in page
    assert release["tests"].get_absolute_url() in page
    assert "sbom-for-deployed-image" in page


def test_an_auditor_reads_the_gate_answer_only_for_their_engagements_frameworks(world, release, auditor):
    from tests.engagements.conftest import open_engagement

    engagement = open_engagement(world.officer, auditors=[auditor], systems=[world.system])
    assert engagement.frameworks == ["soc2"]

    answer = release_gate_answer(release["signoff"], user=auditor)

    controls = {i["control"] for g in answer["failing"] for i in g["items"]}
    assert controls and all(c.startswith("soc2-") or c == "release-signoff" for c in controls)
    assert answer["allowed"] is False
    everything = release_gate_answer(release["signoff"], user=world.officer)
    assert any(not c.startswith("soc2-") for g in everything["failing"] for c in g["controls"])


def test_the_page_says_new_evidence_waits_to_be_evaluated_and_counts_it_as_no_control(client, world, release, auditor):
    from django.db import transaction

    from apps.policy.services import evaluation_request
    from tests.engagements.conftest import open_engagement

    before = release_gate_answer(release["signoff"])
    with transaction.atomic():
        evaluation_request(artifact_ids=[world.artifact.pk])

    answer = release_gate_answer(release["signoff"])
    pending = [g for g in answer["failing"] if g["rule"] == "evaluation-pending"]
    assert answer["pending"] is True and pending and pending[0]["controls"] == []
    # a pending evaluation is not a failing control, nor a failing rule
    assert (answer["failing_count"], answer["failing_rules"]) == (before["failing_count"], before["failing_rules"])
    client.force_login(world.owner1)
    page = client.get(release["signoff"].get_absolute_url()).content.decode()
    assert "New evidence not evaluated yet." in page
    section = page[page.index('data-gate-rule="evaluation-pending"'):]
    assert "control" not in section[: section.index("</p>")]  # no "1 control:" for an item of no control
    # an auditor, who sees only their engagement's frameworks, is told too: it belongs to none
    open_engagement(world.officer, auditors=[auditor], systems=[world.system])
    assert release_gate_answer(release["signoff"], user=auditor)["pending"] is True


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_risk_owner_sees_the_sign_off_summary_on_the_first_screen(browser, live_server, world, release):
    import os
    from pathlib import Path

    from tests.conftest import TEST_PASSWORD

    ci = source_create(actor="system:test", kind="generic-ci", name="ml fraud", system=world.system).source
    upload(ci, "fairlearn_report.json", subject=world.artifact.uri)
    policy_evaluate_pending()  # what the worker does a second after the upload
    viewport = {"width": 1366, "height": 768}
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(world.owner1.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}{release['signoff'].get_absolute_url()}")

    for part in ("[data-summary-what]", "[data-summary-gate]", "[data-summary-evidence]"):
        box = page.locator(part).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (part, box)
    evidence = page.locator("[data-summary-evidence]").inner_text()
    assert "Fairness" in evidence and "Drift: none recorded" in evidence and "not counted" in evidence
    assert "Blocked" in page.locator("[data-summary-gate]").inner_text()
    if os.environ.get("PORTAL_SHOTS_DIR"):
        Path(os.environ["PORTAL_SHOTS_DIR"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{os.environ['PORTAL_SHOTS_DIR']}/release-signoff-page.png", full_page=True)
    context.close()
