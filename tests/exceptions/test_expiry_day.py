"""Issue 18: an expiry is the end of the chosen day, accepted when recommended and shown as that day."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exceptions.forms import end_of_day
from apps.exceptions.models import ExceptionRequest

pytestmark = pytest.mark.django_db


def test_the_last_day_the_form_recommends_is_accepted(make_request):
    recommended = timezone.localdate(timezone.now() + timedelta(days=30))  # a high-tier exception: 30 days at most

    req = make_request("high", expires_at=end_of_day(recommended))

    assert req.status == ExceptionRequest.Status.PENDING


def test_the_detail_page_shows_the_chosen_day_not_midnight_of_the_next(client, make_request, owners):
    day = timezone.localdate(timezone.now() + timedelta(days=10))
    req = make_request("high", expires_at=end_of_day(day))
    client.force_login(owners["risk_owner"])

    page = client.get(f"/exceptions/{req.pk}/").content.decode()

    assert f"end of {day:%Y-%m-%d}" in page
    assert f"{day + timedelta(days=1):%Y-%m-%d} 00:00" not in page
