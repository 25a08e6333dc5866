"""The fault stack (tests/faults/stack.py), started once for the fault tests and stopped after them.

Only the tests that ask for `stack` start it; the others in this package (reconciliation,
takeover, Celery rules, 503 classification) use the ordinary test database of tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.faults.stack import FaultStack


@pytest.fixture(scope="package")
def fault_stack():
    """PostgreSQL, Redis, gunicorn and workers of the fault profile, for the tests of this package only:
    stopped after its last test, so the rest of the suite does not share the machine with them."""
    stack = FaultStack()
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(fault_stack):
    """The fault stack, made whole before each test: what an earlier test stopped or killed runs again."""
    fault_stack.services_start()
    fault_stack.supervise()
    for name in fault_stack.WORKERS:
        fault_stack.wait_worker(name)
    return fault_stack
