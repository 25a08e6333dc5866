"""A sampled item starts with no test result: the page never offers "Passed" as if it were chosen."""

from __future__ import annotations

import re

import pytest

from apps.engagements.models import SampleItem
from apps.engagements.services import sample_draw

pytestmark = pytest.mark.django_db


def _result_select(html: str, position: int) -> str:
    match = re.search(rf'<select name="result" aria-label="Result of item {position}"[^>]*>(.*?)</select>', html, re.S)
    assert match, "the auditor gets a result picker for each item"
    return match.group(0)


def test_an_untested_item_offers_no_result_until_the_auditor_chooses_one(client, world):
    sample = sample_draw(
        actor=world.auditor_in, engagement_id=world.engagement.pk, population="all-evidence", size=1, seed="s"
    )
    item = SampleItem.objects.get(sample=sample)
    assert item.result == SampleItem.Result.UNTESTED
    client.force_login(world.auditor_in)
    html = client.get(sample.get_absolute_url()).content.decode()
    picker = _result_select(html, 1)
    options = re.findall(r"<option[^>]*>", picker)
    # A select with nothing selected shows (and submits) its first option: that must be an empty choice,
    # not "Passed", so saving without choosing records nothing.
    assert 'value=""' in options[0] and "selected" in options[0], options
    assert not any("selected" in o for o in options[1:]), options
    assert "required" in picker
    # and saving without a choice records nothing
    url = f"/engagements/{world.engagement.pk}/samples/{sample.pk}/items/{item.pk}/"
    client.post(url, {"result": "", "note": ""})
    item.refresh_from_db()
    assert item.result == SampleItem.Result.UNTESTED and item.tested_at is None


def test_a_tested_item_shows_its_own_result_selected(client, world):
    sample = sample_draw(
        actor=world.auditor_in, engagement_id=world.engagement.pk, population="all-evidence", size=1, seed="s"
    )
    item = SampleItem.objects.get(sample=sample)
    client.force_login(world.auditor_in)
    client.post(
        f"/engagements/{world.engagement.pk}/samples/{sample.pk}/items/{item.pk}/",
        {"result": "failed", "note": "no CAB ticket"},
    )
    item.refresh_from_db()
    assert item.result == SampleItem.Result.FAILED
    picker = _result_select(client.get(sample.get_absolute_url()).content.decode(), 1)
    selected = [o for o in re.findall(r"<option[^>]*>", picker) if "selected" in o]
    assert selected == ['<option value="failed" selected>']
