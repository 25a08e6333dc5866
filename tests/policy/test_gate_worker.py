"""End to end with a real worker: the gate blocks a release, the missing SBOM is uploaded, the gate opens."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.policy.models import PendingEvaluation
from apps.policy.services import policy_evaluate
from devtools.demo import policy as demo
from tests.conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_blocked_release_passes_the_gate_once_its_sbom_is_uploaded(client, marketing, celery_worker):
    policy_evaluate()
    token = marketing["ci"].token
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/gates/{quote(demo.MARKETING_RELEASE, safe='')}"
    before = client.get(url, headers=auth)
    assert before.status_code == 200 and before.json()["allowed"] is False

    upload = client.post(
        "/api/v1/evidence",
        data={"file": SimpleUploadedFile("sbom.cdx.json", demo.demo_release_sbom()), "subject": demo.MARKETING_RELEASE},
        headers=auth,
    )
    assert upload.status_code == 202
    receipt = upload.json()["receipt"]
    wait_until(lambda: client.get(f"/api/v1/receipts/{receipt}", headers=auth).json()["state"] == "parsed", timeout=60)
    after = wait_until(lambda: (b := client.get(url, headers=auth).json())["allowed"] and b, timeout=60)
    assert after["failing"] == []
    # The worker drained the evaluation the upload asked for (apps.policy.services.pending).
    assert not PendingEvaluation.objects.exists()
    assert after["evaluated_at"] > before.json()["evaluated_at"]
