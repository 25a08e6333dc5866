"""Issue 18, hole 3: a decision through the exceptions API must name the digest it reviewed."""

import pytest
from rest_framework.test import APIClient

from apps.exceptions.models import Approval
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def client_for(user):
    c = APIClient()
    c.force_login(user)
    return c


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_decision_without_a_digest_is_a_400_and_records_nothing(make_request, owners, verb):
    req = make_request("high")

    response = client_for(owners["risk_owner"]).post(
        f"/api/v1/exceptions/{req.pk}/{verb}", {"password": TEST_PASSWORD, "comment": "read it"}, format="json"
    )

    assert response.status_code == 400, response.content
    assert "digest" in response.json()["error"]
    assert not Approval.objects.filter(request=req).exists()


def test_a_decision_with_the_digest_reviewed_is_recorded(make_request, owners):
    req = make_request("high")

    response = client_for(owners["risk_owner"]).post(
        f"/api/v1/exceptions/{req.pk}/approve", {"password": TEST_PASSWORD, "digest": req.digest()}, format="json"
    )

    assert response.status_code == 200, response.content
    assert Approval.objects.get(request=req).request_digest == req.digest()
