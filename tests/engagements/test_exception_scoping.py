"""An auditor sees, on the exceptions pages and API, only exceptions of their engagement's systems and
frameworks that were alive at some time of its observation window."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.exceptions.models import ExceptionRequest
from tests.engagements.test_approved_exceptions_population import exception_row

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def test_exceptions_pages_and_api_show_an_auditor_only_what_their_engagement_covers(world, client):
    now = timezone.now()  # the world's observation window: the last 90 days, on system_in, framework soc2
    S = ExceptionRequest.Status
    in_window = exception_row(world.system_in, world.officer, status=S.APPROVED, approved_at=now - 10 * DAY,
                              expires_at=now + 30 * DAY, text="in the window")
    over_before = exception_row(world.system_in, world.officer, status=S.EXPIRED, approved_at=now - 300 * DAY,
                                expires_at=now - 200 * DAY, ended_at=now - 200 * DAY, text="over before")
    other_system = exception_row(world.system_out, world.officer, status=S.APPROVED, approved_at=now - 10 * DAY,
                                 expires_at=now + 30 * DAY, text="other system")

    api = APIClient()
    api.force_login(world.auditor_in)
    listed = {row["id"] for row in api.get("/api/v1/exceptions").json()["results"]}
    assert listed == {in_window.pk}
    assert api.get(f"/api/v1/exceptions/{over_before.pk}").status_code == 404
    assert api.get(f"/api/v1/exceptions/{other_system.pk}").status_code == 404

    client.force_login(world.auditor_in)
    assert client.get(f"/exceptions/{in_window.pk}/").status_code == 200
    assert client.get(f"/exceptions/{over_before.pk}/").status_code == 404
    register = client.get("/exceptions/").content.decode()
    assert f"EX-{in_window.pk}" in register and f"EX-{over_before.pk}" not in register

    officer = APIClient()
    officer.force_login(world.officer)  # compliance officers see the whole register
    assert {row["id"] for row in officer.get("/api/v1/exceptions").json()["results"]} >= {
        in_window.pk, over_before.pk, other_system.pk}
