"""Issue 21: the exception form picks supporting evidence from a list of the chosen system's evidence that
the user may see (no typed comma-separated ids); an id posted from outside that scope is refused with a
form error and nothing is written."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exceptions.models import ExceptionRequest
from apps.ingest.services import source_create
from apps.inventory.models import System
from tests.engagements.conftest import parsed_upload
from tests.exceptions.conftest import CONTROL

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence(system):
    """One piece of evidence of "credit" (the engineer's system) and one of "other" (not theirs)."""
    source = source_create(actor="system:test", kind="generic-ci", name="ci").source
    now = timezone.now()
    mine = parsed_upload(source, "junit_pytest.xml", system=system, effective_at=now - timedelta(days=1))
    theirs = parsed_upload(source, "ruff_check.sarif", system=System.objects.get(slug="other"), effective_at=now)
    return mine, theirs


def _picker(body: str) -> str:
    match = re.search(r'<select name="evidence_ids"[^>]*\bmultiple\b[^>]*>(.*?)</select>', body, re.S)
    assert match, "no <select multiple> for evidence_ids"
    return match.group(1)


def _post(system, evidence_ids) -> dict:
    return {
        "action": "submit",
        "system": system.slug,
        "control": CONTROL,
        "likelihood": "1",
        "impact": "1",
        "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat(),
        "justification": "The DPIA is being rewritten this quarter.",
        "compensating_controls": "Access limited to two.",
        "evidence_ids": [str(e) for e in evidence_ids],
    }


def test_the_picker_offers_the_systems_evidence_and_nothing_out_of_scope(client, owners, system, evidence):
    mine, theirs = evidence
    client.force_login(owners["engineer"])  # an engineering owner of "credit" only
    for url in ("/exceptions/new/", f"/exceptions/new/?system={system.slug}"):
        options = _picker(client.get(url).content.decode())
        assert re.search(rf'<option value="{mine.pk}"[^>]*data-system="credit"', options), url
        assert f'value="{theirs.pk}"' not in options, url
    assert 'name="evidence_ids" type="text"' not in client.get("/exceptions/new/").content.decode()


def test_a_posted_out_of_scope_evidence_id_is_refused_with_a_form_error(client, owners, system, control, evidence):
    mine, theirs = evidence
    client.force_login(owners["engineer"])
    refused = client.post("/exceptions/new/", _post(system, [mine.pk, theirs.pk]))
    assert refused.status_code == 200
    body = refused.content.decode()
    assert re.search(rf'class="field-error">[^<]*not evidence of credit that you can see: {theirs.pk}<', body)
    assert not ExceptionRequest.objects.exists()
    # the picked evidence stays picked on the page that shows the error
    assert re.search(rf'<option value="{mine.pk}"[^>]*selected', _picker(body))

    accepted = client.post("/exceptions/new/", _post(system, [mine.pk]))
    assert accepted.status_code == 302
    assert ExceptionRequest.objects.get().evidence_ids == [mine.pk]


def test_the_edit_form_keeps_the_cited_evidence_picked(client, owners, system, make_request, evidence):
    mine, _theirs = evidence
    req = make_request("low", evidence_ids=[mine.pk])
    client.force_login(owners["engineer"])
    options = _picker(client.get(f"/exceptions/{req.pk}/edit/").content.decode())
    assert re.search(rf'<option value="{mine.pk}"[^>]*selected', options)
