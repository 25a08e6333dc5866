"""A real Celery worker runs the beat-scheduled expiry task; the control result flips back to failing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.exceptions.models import ExceptionRequest
from apps.ledger.models import PendingEntry
from tests.conftest import wait_until
from tests.exceptions.conftest import approve_chain, control_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_scheduled_expiry_task_run_by_a_real_worker_returns_the_result_to_failing(
    celery_worker, make_request, owners, control, system
):
    from compliance_portal.celery import app

    req = approve_chain(make_request("low", days=1), owners)
    assert control_status(control, system) == {"excepted"}
    # Its time has come (moving the clock of one row, not of the worker).
    ExceptionRequest.objects.filter(pk=req.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    entry = settings.CELERY_BEAT_SCHEDULE["exception-expire-due"]
    assert entry["schedule"] <= 60
    app.send_task(entry["task"])  # exactly what beat sends every minute
    wait_until(lambda: ExceptionRequest.objects.get(pk=req.pk).status == ExceptionRequest.Status.EXPIRED)
    wait_until(lambda: control_status(control, system) == {"missing"})
    assert PendingEntry.objects.filter(action="exception.expired", object_id=str(req.pk)).exists() or (
        __import__("apps.ledger.models", fromlist=["LedgerEntry"])
        .LedgerEntry.objects.filter(action="exception.expired", object_id=str(req.pk))
        .exists()
    )
