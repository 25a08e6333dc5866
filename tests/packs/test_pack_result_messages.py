"""Issue 18: the PDF of a pack shows each result's plain-language message, not only the engine's reason."""

from __future__ import annotations

import pytest

from apps.policy.models import ControlResult
from tests.packs.test_pack_build import _build, _pdf_text

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_system_pack_shows_the_failure_message_of_a_failing_result(
    scenario, officer, settings, tmp_path, django_capture_on_commit_callbacks
):
    failing = ControlResult.objects.filter(system=scenario["system"], status="fail").exclude(message="")
    assert failing.exists(), "the scenario has a failing result"
    pack = _build(officer, "system", {"system": scenario["system"].slug, **scenario["period"]},
                  django_capture_on_commit_callbacks)  # fmt: skip
    flat = " ".join(_pdf_text(settings, pack, tmp_path).split())
    # shown in the results table, not only inside the ledger entries' data (which carry it too)
    phrases = {" ".join(r.message.split()[:5]) for r in failing}
    shown = [p for p in phrases if flat.count(p) > flat.count(f'"message": "{p}')]
    assert shown, phrases
    # the engine's reason follows, labelled as the details (the message is what a person reads first)
    reasons = {" ".join(("details: " + r.reason).split()[:4]) for r in failing}
    assert any(reason in flat for reason in reasons), reasons
