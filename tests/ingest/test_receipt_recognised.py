"""A receipt says when its content was not recognised (issue 17, hole 6): API, pages, per-source count."""

import pytest
from django.urls import reverse

from apps.ingest.services import receipt_parse
from tests.ingest.conftest import fixture_bytes, post_github, upload

pytestmark = pytest.mark.django_db

# A CSV no parser reads: before, its receipt said "parsed" and nothing else.
UNKNOWN = b"control,status\nCC6.1,ok\n"


def _send(client, token, body, name):
    response = upload(client, token, body, name=name)
    assert response.status_code == 202, response.json()
    receipt_id = int(response.json()["receipt"])
    return receipt_parse(receipt_id=receipt_id)


def _receipt_api(client, token, receipt_id):
    response = client.get(f"/api/v1/receipts/{receipt_id}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return response.json()


def test_content_kept_as_generic_evidence_is_marked_not_recognised_in_the_receipt_api(client, ci):
    unknown = _send(client, ci.token, UNKNOWN, "controls.csv")
    body = _receipt_api(client, ci.token, unknown.pk)
    assert (body["state"], body["recognised"]) == ("parsed", False)
    assert len(body["evidence"]) == 1

    known = _send(client, ci.token, fixture_bytes("bandit_shell_md5.sarif"), "bandit.sarif")
    assert _receipt_api(client, ci.token, known.pk)["recognised"] is True


def test_a_receipt_not_yet_parsed_has_no_recognised_answer(client, ci):
    response = upload(client, ci.token, UNKNOWN, name="controls.csv")
    assert _receipt_api(client, ci.token, int(response.json()["receipt"]))["recognised"] is None


def test_inputs_that_used_to_become_generic_are_recognised_now(client, ci, github):
    for name in ("sbom4python_requests.spdx", "node_test_junit.xml", "infra/fairlearn_by_group.json",
                 "infra/terraform_plan_0.1.json"):  # fmt: skip
        receipt = _send(client, ci.token, fixture_bytes(name), name.rsplit("/", 1)[-1])
        assert _receipt_api(client, ci.token, receipt.pk)["recognised"] is True, name
    status = post_github(client, github, "status", fixture_bytes("github/status.success.json"))
    receipt = receipt_parse(receipt_id=int(status.json()["receipt"]))
    assert _receipt_api(client, github.token, receipt.pk)["recognised"] is True


def test_an_unknown_github_event_is_marked_not_recognised(client, github):
    response = post_github(client, github, "star", b'{"action": "created", "starred_at": null}')
    receipt = receipt_parse(receipt_id=int(response.json()["receipt"]))
    assert _receipt_api(client, github.token, receipt.pk)["recognised"] is False


def test_receipt_evidence_and_source_pages_warn_about_unrecognised_content(client, ci, admin_user):
    unknown = _send(client, ci.token, UNKNOWN, "controls.csv")
    _send(client, ci.token, UNKNOWN + b"CC6.2,ok\n", "controls-2.csv")
    _send(client, ci.token, fixture_bytes("bandit_shell_md5.sarif"), "bandit.sarif")
    client.force_login(admin_user)

    page = client.get(reverse("ingest:receipt_detail", args=[unknown.pk])).content.decode()
    assert "Not recognised" in page and "no rule judges it" in page

    evidence = unknown.evidence.get()
    page = client.get(reverse("evidence:detail", args=[evidence.pk])).content.decode()
    assert "Not recognised" in page and "no rule judges it" in page

    page = client.get(reverse("ingest:source_detail", args=[ci.source.pk])).content.decode()
    assert "2 unrecognised receipts" in page

    page = client.get(reverse("ingest:source_list")).content.decode()
    assert 'data-unrecognised="2"' in page


def test_a_recognised_receipt_shows_no_warning(client, ci, admin_user):
    known = _send(client, ci.token, fixture_bytes("bandit_shell_md5.sarif"), "bandit.sarif")
    client.force_login(admin_user)
    assert "Not recognised" not in client.get(reverse("ingest:receipt_detail", args=[known.pk])).content.decode()
    page = client.get(reverse("ingest:source_detail", args=[ci.source.pk])).content.decode()
    assert "unrecognised receipt" not in page


def test_the_receipt_list_filters_and_marks_unrecognised_receipts(client, ci, admin_user):
    unknown = _send(client, ci.token, UNKNOWN, "controls.csv")
    known = _send(client, ci.token, fixture_bytes("bandit_shell_md5.sarif"), "bandit.sarif")
    client.force_login(admin_user)
    source_page = client.get(reverse("ingest:source_detail", args=[ci.source.pk])).content.decode()
    assert f"?source={ci.source.pk}&amp;recognised=no" in source_page

    page = client.get(reverse("ingest:receipt_list"), {"source": ci.source.pk, "recognised": "no"}).content.decode()
    assert f"#{unknown.pk}<" in page and f"#{known.pk}<" not in page
    assert "not recognised" in page
    everything = client.get(reverse("ingest:receipt_list")).content.decode()
    assert f"#{unknown.pk}<" in everything and f"#{known.pk}<" in everything
    assert everything.count(">not recognised<") == 1
