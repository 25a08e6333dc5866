"""Issue 21: the lists that still had fixed orders (receipts, sources, packs, engagements, evidence
requests, rules) sort on the server by `?sort=<col>` / `?sort=-<col>` from a whitelist; an unknown column is
ignored (the default order), and the headers say which column sorts the list (aria-sort)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from apps.engagements.services import evidence_request_create
from apps.ingest.services import source_create
from apps.packs.services import pack_request
from apps.policy.models import RuleVersion
from tests.engagements.conftest import world  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def rows(client, url: str, href: str) -> list[str]:
    """The row keys of a list page, in the order shown: the ids or names its row headers link to."""
    body = client.get(url).content.decode()
    return re.findall(rf'<th scope="row"><a href="{href}"', body)


def sorted_both_ways(client, url: str, href: str, column: str) -> tuple[list[str], list[str], list[str]]:
    """(ascending, descending, with an unknown column) orders of a list, and checks the header state."""
    body = client.get(f"{url}?sort=-{column}").content.decode()
    assert 'aria-sort="descending"' in body and f'href="?sort={column}"' in body, url
    return (rows(client, f"{url}?sort={column}", href), rows(client, f"{url}?sort=-{column}", href),
            rows(client, f"{url}?sort=-password", href))


def test_the_receipt_list_sorts_by_receipt_and_ignores_an_unknown_column(client, world, admin_user):  # noqa: F811
    client.force_login(admin_user)
    default = rows(client, "/receipts/", r"/receipts/(\d+)/")
    up, down, unknown = sorted_both_ways(client, "/receipts/", r"/receipts/(\d+)/", "receipt")
    assert len(up) == 3 and up == sorted(up, key=int)
    assert down == up[::-1]
    assert unknown == default  # newest first
    # a source's page keeps its plain table of latest receipts
    assert "aria-sort" not in client.get(world.source.get_absolute_url()).content.decode()


def test_the_source_list_sorts_by_name_both_ways_and_ignores_an_unknown_column(client, world, admin_user):  # noqa: F811
    for name in ("alpha registry", "zulu pipeline"):
        source_create(actor="system:test", kind="generic-ci", name=name)
    names = {str(s.pk): s.name for s in type(world.source).objects.all()}
    client.force_login(admin_user)
    up, down, unknown = sorted_both_ways(client, "/sources/", r"/sources/(\d+)/", "name")
    assert [names[pk] for pk in up] == ["alpha registry", "ci", "zulu pipeline"]
    assert down == up[::-1]
    assert unknown == up  # by name, the default
    by_receipts = rows(client, "/sources/?sort=-receipts", r"/sources/(\d+)/")
    assert by_receipts[0] == str(world.source.pk)  # the only one that received anything


def test_the_pack_list_sorts_by_pack_both_ways_and_ignores_an_unknown_column(client, world):  # noqa: F811
    for start in ("2001-01-01", "2002-01-01", "2003-01-01"):
        pack_request(user=world.officer, kind="system", params={
            "system": world.system_in.slug, "start": start, "end": timezone.now().date().isoformat()})
    client.force_login(world.officer)
    default = rows(client, "/packs/", r"/packs/(\d+)/")
    up, down, unknown = sorted_both_ways(client, "/packs/", r"/packs/(\d+)/", "pack")
    assert len(up) == 3 and up == sorted(up, key=int)
    assert down == up[::-1]
    assert unknown == default == down  # newest first


def test_the_engagement_list_sorts_by_name_both_ways_and_ignores_an_unknown_column(client, world):  # noqa: F811
    names = {str(e.pk): e.name for e in (world.engagement, world.engagement_out, world.engagement_ended)}
    client.force_login(world.officer)
    default = rows(client, "/engagements/", r"/engagements/(\d+)/")
    up, down, unknown = sorted_both_ways(client, "/engagements/", r"/engagements/(\d+)/", "name")
    assert [names[pk] for pk in up] == ["Last year's audit", "Model risk review", "SOC 2 Type II 2026"]
    assert down == up[::-1]
    assert unknown == default and len(default) == 3


def test_the_evidence_request_list_sorts_by_due_date_both_ways(client, world):  # noqa: F811
    today = timezone.localdate()
    made = [
        evidence_request_create(
            actor=world.auditor_in, engagement_id=world.engagement.pk, system_id=world.system_in.pk,
            control_ref="soc2 CC8.1", title=f"Request {days}", due_date=today + timedelta(days=days),
            assignee=world.officer,
        )
        for days in (9, 3, 6)
    ]
    by_due = [str(r.pk) for r in sorted(made, key=lambda r: r.due_date)]
    client.force_login(world.officer)
    href = r"/engagements/\d+/requests/(\d+)/"
    up, down, unknown = sorted_both_ways(client, "/engagements/requests/", href, "due")
    assert up == by_due and down == by_due[::-1]
    assert unknown == by_due  # soonest due first, the default


def test_the_rule_list_sorts_by_rule_and_severity_and_ignores_an_unknown_column(client, compliance_officer):
    severities = dict(RuleVersion.objects.filter(rule__current=F("pk")).values_list("rule__key", "severity"))
    assert len(severities) >= 2
    client.force_login(compliance_officer)
    up, down, unknown = sorted_both_ways(client, "/rules/", r"/rules/([^\"/]+)/", "rule")
    assert up == sorted(severities) and down == up[::-1] and unknown == up
    most_severe = rows(client, "/rules/?sort=-severity", r"/rules/([^\"/]+)/")[0]
    assert severities[most_severe] == max(severities.values(), key=("low", "medium", "high", "critical").index)
