"""seed_demo loads the sign-off and retention demo through the services, twice without harm (conftest.py
seeds twice)."""

import pytest

from apps.releases.models import ReleaseSignoff
from apps.retention.models import Disposal, LegalHold

pytestmark = pytest.mark.django_db


def test_seed_demo_has_a_release_waiting_for_sign_off_a_hold_and_nothing_disposed_early(seeded_demo):
    signoff = ReleaseSignoff.objects.get(system__slug="patient-triage")
    assert signoff.status == ReleaseSignoff.Status.PENDING and signoff.class_source == "ci"
    assert "engineer" in signoff.authors
    assert LegalHold.objects.filter(system__slug="data-platform", status="active").count() == 1
    # The workflow job's 2019 content date no longer makes evidence received today due (issue 17).
    assert Disposal.objects.count() == 0
