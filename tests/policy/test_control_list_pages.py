"""Issue 21, item 4: the controls list is paged (50 a page) with a "failing only" filter and sortable columns."""

from __future__ import annotations

import re

import pytest

from apps.policy.models import Control
from apps.policy.services import coverage_snapshot, policy_evaluate

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr data-control="(\d+)"')


@pytest.fixture
def evaluated(marketing, clinical):
    policy_evaluate()
    coverage_snapshot()
    return marketing


def test_the_controls_list_shows_fifty_a_page_and_a_next_link(client, compliance_officer):
    total = Control.objects.count()
    assert total > 60  # the shipped catalogs
    client.force_login(compliance_officer)
    first = client.get("/controls/").content.decode()
    assert len(ROW.findall(first)) == 50
    assert 'href="?page=2"' in first and f"{total} controls" in first
    last_page = (total + 49) // 50
    last = client.get(f"/controls/?page={last_page}").content.decode()
    assert len(ROW.findall(last)) == total - 50 * (last_page - 1)
    assert set(ROW.findall(first)).isdisjoint(ROW.findall(last))


def test_failing_only_hides_the_controls_no_visible_system_fails(client, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    body = client.get("/controls/?failing=1").content.decode()
    shown = ROW.findall(body)
    assert shown, "the clinical system fails at least one control"
    assert len(shown) < Control.objects.count()
    assert body.count('class="count count-fail"') == len(shown)  # every row shown has failing systems
    assert 'name="failing" value="1" checked' in body


def test_the_controls_list_sorts_by_failing_systems(client, compliance_officer, evaluated):
    client.force_login(compliance_officer)
    body = client.get("/controls/?failing=1&sort=-fail").content.decode()
    fails = [int(n) for n in re.findall(r'class="count count-fail">(\d+)<', body)]
    assert fails == sorted(fails, reverse=True)
    assert 'aria-sort="descending"' in body
    assert len(ROW.findall(client.get("/controls/?sort=__class__").content.decode())) == 50
