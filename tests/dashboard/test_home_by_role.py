"""Each role lands on a home page that fits its job (issue 21, item 3), scoped like every other page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.engagements.models import EvidenceRequest
from apps.engagements.services import evidence_request_answer, evidence_request_create, evidence_review_mark
from apps.exceptions.selectors import exception_inbox_for_user
from apps.policy.models import ControlResult
from apps.releases.selectors import release_inbox_for_user
from tests.engagements.conftest import person, world  # noqa: F401  (a fixture)
from tests.exceptions.conftest import (  # noqa: F401  (fixtures)
    CONTROL,
    approve_chain,
    control,
    make_request,
    owners,
    system,
)

# A home page's queries do not grow with what it lists: engagements, requests, exceptions, results.
HOME_MAX_QUERIES = 30


def ask(world, auditor, system, title, assignee, *, answer=None):  # noqa: F811
    """An auditor's evidence request on a system of their engagement, answered when `answer` is evidence."""
    engagement = world.engagement if auditor == world.auditor_in else world.engagement_out
    req = evidence_request_create(
        actor=auditor, engagement_id=engagement.pk, system_id=system.pk, title=title,
        due_date=timezone.localdate() + timedelta(days=14), assignee=assignee, control_ref="soc2 CC8.1",
    )  # fmt: skip
    if answer is not None:
        req = evidence_request_answer(actor=assignee, request_id=req.pk, evidence_ids=[answer.pk], note="here")
    return req


@pytest.fixture
def audit(world):  # noqa: F811
    """Requests in and out of the auditor's engagement: answered ones waiting for review, an open one, a flag."""
    engineer = person(Role.ENGINEER, "eng-answers")
    ask(world, world.auditor_in, world.system_in, "Change tickets for Q3", engineer, answer=world.evidence_in)
    ask(world, world.auditor_in, world.system_in, "Access review for the payments team", engineer)
    ask(world, world.auditor_out, world.system_out, "Model validation report", engineer, answer=world.evidence_out)
    evidence_review_mark(actor=world.auditor_in, engagement_id=world.engagement.pk, evidence_id=world.evidence_in.pk,
                         mark="flagged", comment="The test run is from a branch, not main.")  # fmt: skip
    world.engineer = engineer
    return world


def test_an_auditor_home_lists_their_engagements_and_what_waits_for_their_review_and_nothing_else(
    client, audit, django_assert_max_num_queries
):
    client.force_login(audit.auditor_in)
    with django_assert_max_num_queries(HOME_MAX_QUERIES):
        page = client.get("/").content.decode()
    assert 'data-home="auditor"' in page
    assert "SOC 2 Type II 2026" in page and "access ends in 30 days" in page  # the engagement, its access days left
    observation = timezone.localtime(audit.engagement.observation_start).date().isoformat()
    assert observation in page  # the observation window
    assert "Change tickets for Q3" in page  # answered, waiting for the auditor's review
    assert "Access review for the payments team" not in page  # still with the system side: not the auditor's move
    assert "The test run is from a branch, not main." in page  # the flagged item
    # nothing of the engagement they are not in, nor of the one that ended
    assert "Model risk review" not in page and "Model validation report" not in page
    assert "Last year&#x27;s audit" not in page and "Last year's audit" not in page


def test_an_auditor_home_reaches_an_engagement_control_list_in_one_click(client, audit):
    client.force_login(audit.auditor_in)
    page = client.get("/").content.decode()
    link = re.search(r'<a href="([^"]+)"[^>]*data-home-link="controls"', page)
    assert link, "the engagement row links to its controls"
    target = client.get(link.group(1))
    assert target.status_code == 200
    assert "every control in scope" in target.content.decode()
    assert link.group(1).startswith(reverse("engagements:detail", kwargs={"pk": audit.engagement.pk}))


def test_an_engineer_home_shows_failing_controls_of_their_systems_and_their_open_requests(
    client, audit, make_request, owners, system, django_assert_max_num_queries  # noqa: F811
):
    req = make_request("high")  # requested by owners["engineer"]
    client.force_login(owners["engineer"])
    with django_assert_max_num_queries(HOME_MAX_QUERIES):
        page = client.get("/").content.decode()
    assert 'data-home="engineer"' in page
    bad = ControlResult.objects.filter(system=system, status__in=["fail", "missing"])
    assert bad.filter(control__control_id=CONTROL).exists()  # the DPIA control is missing on their system
    count = bad.values("control").distinct().count()
    assert f'href="/systems/credit/" data-failing-count="{count}">Credit</a>' in page
    assert req.reference in page  # the exception they asked for
    assert "Payments API" not in page  # a system they do not work on

    client.force_login(audit.engineer)  # evidence requests addressed to them: the open one, not the answered one
    page = client.get("/").content.decode()
    assert "Access review for the payments team" in page
    assert "Change tickets for Q3" not in page


def inbox_length(user) -> int:
    return len(exception_inbox_for_user(user=user)) + len(release_inbox_for_user(user=user))


def test_a_risk_owner_home_lists_their_inbox_and_the_menu_counts_it_on_every_page(
    client, make_request, owners, django_assert_max_num_queries  # noqa: F811
):
    waiting = make_request("high")  # one scope admits one open request
    client.force_login(owners["risk_owner"])
    with django_assert_max_num_queries(HOME_MAX_QUERIES):
        page = client.get("/").content.decode()
    assert 'data-home="risk_owner"' in page
    assert waiting.reference in page
    unrelated = client.get(reverse("inventory:list")).content.decode()
    badge = re.search(r'data-nav="approvals"[^>]*>Approvals <span class="badge"[^>]*>(\d+)</span>', unrelated)
    assert badge and int(badge.group(1)) == inbox_length(owners["risk_owner"]) == 1

    client.force_login(owners["other_risk_owner"])  # owns another system: nothing waits, no badge
    unrelated = client.get(reverse("inventory:list")).content.decode()
    assert inbox_length(owners["other_risk_owner"]) == 0
    assert 'data-nav="approvals"' in unrelated and 'class="badge"' not in unrelated


def test_a_compliance_officer_home_shows_overdue_requests_and_exceptions_expiring_within_30_days(
    client, audit, make_request, owners, django_assert_max_num_queries  # noqa: F811
):
    soon = approve_chain(make_request("high", days=20), owners)
    overdue = EvidenceRequest.objects.get(title="Access review for the payments team")
    # incidental: a request whose due date has passed (the create service refuses a past date)
    EvidenceRequest.objects.filter(pk=overdue.pk).update(due_date=timezone.localdate() - timedelta(days=3))
    client.force_login(audit.officer)
    with django_assert_max_num_queries(HOME_MAX_QUERIES):
        page = client.get("/").content.decode()
    assert 'data-home="compliance_officer"' in page
    assert "Access review for the payments team" in page  # overdue
    assert "Change tickets for Q3" not in page  # answered: not overdue
    assert soon.reference in page  # approved, ends in 20 days
    assert "Coverage by framework" in page or "No coverage yet" in page  # coverage and failures: the overview
