"""The fault tests' Celery client (tests/faults/stack.py) talks to the fault stack's broker only: creating it
must not make it the process's current Celery app, through which every shared task publishes."""

from __future__ import annotations

from celery import current_app

from apps.ingest.tasks import receipt_parse
from compliance_portal.celery import app
from tests.faults.stack import FaultStack


def test_the_fault_stacks_client_leaves_the_projects_celery_app_current():
    """It became current: after the fault package, the same pytest process sent every later task (a seeded
    demo's 1,000 receipts) to the stopped fault Redis, retrying each for seconds, and the lane hung."""
    stack = FaultStack()  # a leak is also caught, and undone, by tests/conftest.py's current-app check
    assert stack.celery is not app
    assert current_app._get_current_object() is app
    assert receipt_parse._get_current_object().app is app
