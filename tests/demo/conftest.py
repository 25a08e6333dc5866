"""The demo data of `make run` (seed_demo), seeded once for the whole package, twice over: the release and
engagement modules check that the second `seed_demo` duplicated nothing.

Seeding takes 10-15 s on this machine, and these modules only read it: the package's fixture seeds inside a
transaction rolled back when the package ends, and each test runs in a savepoint of its own inside it (what
it writes is rolled back too). The package is one xdist group (tests/parallel.py), so it runs whole in one
process; no test here may be transactional (it would flush the seeded data).
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings


@pytest.fixture(scope="package")
def seeded_demo(django_db_setup, django_db_blocker, tmp_path_factory):
    witness = tmp_path_factory.mktemp("demo-ledger") / "ledger-checkpoints.jsonl"
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=hashers, PORTAL_LEDGER_WITNESS_FILE=witness), \
            transaction.atomic():
        call_command("seed_demo")
        call_command("seed_demo")
        # What `make run`'s worker does after each parse commits (never, inside this transaction): index the
        # words inside the evidence, so the searches here see what the demo's users would.
        call_command("search_reconcile")
        yield
        transaction.set_rollback(True)
