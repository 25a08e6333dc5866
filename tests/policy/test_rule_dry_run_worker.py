"""Issue 17, hole 7: dry runs run in a real Celery worker, the page polls a progress row."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.policy.models import RuleDryRun
from apps.policy.services import policy_evaluate
from tests.conftest import wait_until
from tests.policy.test_rule_cost import SEVENTEEN, nested

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FORM = {"key": "draft-rule", "title": "A draft", "controls": "soc2-cc6-8", "requires": "", "severity": "medium",
        "mode": "gate", "sel_artifact_kinds": "release"}  # fmt: skip


def test_a_dry_run_is_evaluated_by_the_worker_and_its_progress_polled(client, compliance_officer, marketing,
                                                                       celery_worker):  # fmt: skip
    policy_evaluate()
    client.force_login(compliance_officer)
    queued = client.post("/rules/dry-run", {**FORM, "expression": "true"})
    assert queued.status_code == 200 and 'hx-trigger="every 1s"' in queued.content.decode()
    dry_run = RuleDryRun.objects.get()
    url = f"/rules/dry-run/{dry_run.pk}"
    text = wait_until(lambda: "would change" in (t := client.get(url).content.decode()) and t, timeout=60)
    assert "release:https://github.com/acme/marketing-site@2.4.0" in text
    dry_run.refresh_from_db()
    assert dry_run.status == RuleDryRun.Status.DONE and dry_run.done == dry_run.total >= 1
    assert dry_run.result["counts"] == {"pass": dry_run.total}


def test_a_dry_run_of_a_slow_rule_ends_with_the_budget_reason_instead_of_hanging(
    client, compliance_officer, marketing, celery_worker
):
    """The worker's budget is the default (5000 ms); six nested comprehensions take minutes per subject.
    The editor refuses such a rule (test_rule_cost); this row skips the editor to exercise the budget."""
    policy_evaluate()
    client.force_login(compliance_officer)
    draft = RuleDryRun.objects.create(
        requested_by=compliance_officer, rule_key="draft-rule", created_at=timezone.now(),
        spec={"key": "draft-rule", "title": "Slow", "controls": ["soc2-cc6-8"], "severity": "low", "mode": "warn",
              "expression": nested(6, SEVENTEEN, " >= 0"), "selector": {"artifact_kinds": ["release"]}},
    )  # fmt: skip
    from apps.policy.tasks import rule_dry_run_execute

    rule_dry_run_execute.delay(draft.pk)
    url = f"/rules/dry-run/{draft.pk}"
    text = wait_until(lambda: "would change" in (t := client.get(url).content.decode()) and t, timeout=90)
    assert "evaluation exceeded its time budget of 5000 ms" in text
    draft.refresh_from_db()
    assert draft.result["counts"] == {"error": draft.total}
