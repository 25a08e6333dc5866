"""Issue 18: the decision page leads with a summary: what is accepted, grouped by rule, and for how long."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exceptions.forms import end_of_day
from apps.exceptions.selectors import covered_results, exception_decision_summary

pytestmark = pytest.mark.django_db


def test_the_summary_groups_covered_results_by_rule_and_counts_days_left(make_request):
    day = timezone.localdate(timezone.now() + timedelta(days=8))
    req = make_request("high", expires_at=end_of_day(day))
    results = list(covered_results(req))

    summary = exception_decision_summary(req, results, now=end_of_day(day) - timedelta(days=8, hours=23))

    assert summary["days_left"] == "9 days left" and summary["expiry_day"] == day
    assert sum(g["count"] for g in summary["by_rule"]) == len(results) > 0
    assert [g["rule"] for g in summary["by_rule"]] == sorted({r.rule.key for r in results})


def test_the_decision_page_shows_the_summary_before_the_details(client, make_request, owners):
    req = make_request("high")
    client.force_login(owners["risk_owner"])

    page = client.get(f"/exceptions/{req.pk}/").content.decode()

    assert "Decision summary" in page
    assert page.index("Decision summary") < page.index("What is accepted")
    first_rule = covered_results(req).first().rule.key
    assert re.search(rf"{re.escape(first_rule)}</code>\s*<span[^>]*>\d+ ", page)
