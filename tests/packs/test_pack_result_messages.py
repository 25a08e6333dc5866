"""Issue 18: the PDF of a pack shows each result's plain-language message, not only the engine's reason.

It reads the system pack of the scenario that the verifier modules read (`pack_zip`, built once per process:
tests/parallel.py keeps these modules together). Its results' messages and reasons are the scenario's own
words, the same in every build of it; only the database ids differ."""

from __future__ import annotations

import pytest

from apps.policy.models import ControlResult
from tests.packs.test_pack_build import report_text

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_system_pack_shows_the_failure_message_of_a_failing_result(scenario, pack_zip, tmp_path):
    failing = ControlResult.objects.filter(system=scenario["system"], status="fail").exclude(message="")
    assert failing.exists(), "the scenario has a failing result"
    flat = " ".join(report_text(pack_zip, tmp_path).split())
    # shown in the results table, not only inside the ledger entries' data (which carry it too)
    phrases = {" ".join(r.message.split()[:5]) for r in failing}
    shown = [p for p in phrases if flat.count(p) > flat.count(f'"message": "{p}')]
    assert shown, phrases
    # the engine's reason follows, labelled as the details (the message is what a person reads first)
    reasons = {" ".join(("details: " + r.reason).split()[:4]) for r in failing}
    assert any(reason in flat for reason in reasons), reasons
