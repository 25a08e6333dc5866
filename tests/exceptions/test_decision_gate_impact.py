"""Issue 18: the decision page says what approving unblocks (asked of the policy gate itself) and what
else is failing on the same scope that the request does not cover.

The marketing site's release 2.4.0 has no SBOM: rule sbom-for-deployed-image fails for soc2-cc6-8,
soc2-cc7-1 and euai-art-11, and for the requirements mapped from them (cross-framework mappings), and
that is all that blocks it at the gate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.evidence.models import Artifact
from apps.exceptions.selectors import (
    covered_results,
    exception_decision_summary,
    exception_other_failures,
    exception_unblocks,
)
from apps.exceptions.services import ExceptionInput, exception_approve, exception_request
from apps.policy.models import ControlResult
from apps.policy.selectors import gate_for_subject
from apps.policy.services import policy_evaluate
from tests.policy.conftest import marketing  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

RELEASE = "release:https://github.com/acme/marketing-site@2.4.0"
SBOM_RULE = "sbom-for-deployed-image"
NAMED_SBOM_CONTROLS = {"soc2-cc7-1", "euai-art-11"}  # named by the rule, besides the requested soc2-cc6-8


def other_sbom_controls(release) -> set[str]:
    """The controls the SBOM rule fails on the release besides the requested soc2-cc6-8."""
    failing = set(
        ControlResult.objects.filter(artifact=release, rule__key=SBOM_RULE, status__in=("fail", "missing")).values_list(
            "control__control_id", flat=True
        )
    )
    assert NAMED_SBOM_CONTROLS | {"soc2-cc6-8"} <= failing  # mappings may add requirements, never drop one
    return failing - {"soc2-cc6-8"}


@pytest.fixture
def site(marketing, owners):  # noqa: F811
    system = marketing["system"]
    system.risk_owners.set([owners["risk_owner"]])
    system.engineering_owners.set([owners["engineer"]])
    policy_evaluate()  # everything: also answers the evaluation requests the pushes left
    release = Artifact.objects.get(uri=RELEASE)
    assert not gate_for_subject(artifact=release).allowed
    return {"system": system, "release": release, "other_sbom_controls": other_sbom_controls(release)}


def request_on(control: str, site, owners, *, rating=(1, 1), **fields):
    data = ExceptionInput(
        control=control,
        system=site["system"].slug,
        justification="The SBOM step is being moved to the new build system this sprint.",
        compensating_controls="Dependencies are pinned and scanned in the registry.",
        likelihood=rating[0],
        impact=rating[1],
        expires_at=timezone.now() + timedelta(days=10),
        **fields,
    )
    return exception_request(actor=owners["engineer"], data=data, submit=True)


def approve(req, owners):
    return exception_approve(
        request_id=req.pk, approver=owners["risk_owner"], reauthenticated_at=timezone.now(), digest=req.digest()
    )


def test_an_exception_on_one_of_three_blocking_controls_unblocks_nothing_and_names_what_still_blocks(site, owners):
    req = request_on("soc2-cc6-8", site, owners)

    impact = exception_unblocks(req)

    assert impact["unblocked"] == []
    still = {row["artifact"].uri: row for row in impact["still_blocked"]}
    assert RELEASE in still
    assert {g["rule"] for g in still[RELEASE]["blocking"]} == {SBOM_RULE}
    assert {c for g in still[RELEASE]["blocking"] for c in g["controls"]} == site["other_sbom_controls"]


def test_what_approving_unblocks_is_what_the_gate_says_once_it_is_approved(site, owners):
    for control in site["other_sbom_controls"]:
        approve(request_on(control, site, owners), owners)
    policy_evaluate(system_ids=[site["system"].pk])
    req = request_on("soc2-cc6-8", site, owners)

    impact = exception_unblocks(req)

    assert RELEASE in [row["artifact"].uri for row in impact["unblocked"]]
    assert RELEASE not in [row["artifact"].uri for row in impact["still_blocked"]]
    # the prediction holds: approve it, evaluate, and the gate lets the release through
    approve(req, owners)
    policy_evaluate(system_ids=[site["system"].pk])
    assert gate_for_subject(artifact=site["release"]).allowed


def test_what_else_is_failing_on_the_scope_is_grouped_by_rule_without_the_requested_control(site, owners):
    req = request_on("soc2-cc6-8", site, owners)

    others = exception_other_failures(req)

    by_rule = {g["rule"]: g for g in others}
    assert SBOM_RULE in by_rule and set(by_rule[SBOM_RULE]["controls"]) == site["other_sbom_controls"]
    expected = ControlResult.objects.filter(
        system=site["system"], status__in=["fail", "missing"], rule__key=SBOM_RULE
    ).exclude(control__control_id="soc2-cc6-8")
    assert by_rule[SBOM_RULE]["count"] == expected.count() > 0
    assert all("soc2-cc6-8" not in g["controls"] for g in others)
    assert by_rule[SBOM_RULE]["message"]


def test_the_decision_page_shows_what_approving_unblocks_and_what_else_fails(client, site, owners):
    req = request_on("soc2-cc6-8", site, owners)
    client.force_login(owners["risk_owner"])

    page = client.get(f"/exceptions/{req.pk}/").content.decode()

    assert "What approving unblocks" in page and "What else is failing here" in page
    assert page.index("What approving unblocks") < page.index("What is accepted")
    assert "stays blocked" in page and SBOM_RULE in page


def test_the_summary_accepts_only_what_fails_and_counts_the_passing_apart(site, owners):
    req = request_on("soc2-cc6-8", site, owners)
    results = list(covered_results(req))
    assert {r.status for r in results} >= {"pass", "missing"}

    summary = exception_decision_summary(req, results)

    failing = [r for r in results if r.status != "pass"]
    assert summary["accepted_results"] == len(failing) and summary["passing"] == len(results) - len(failing)
    assert {g["rule"] for g in summary["accepted"]} == {r.rule.key for r in failing}


def test_an_auditor_sees_other_failures_only_of_their_engagements_frameworks(site, owners):
    from tests.engagements.conftest import open_engagement

    req = request_on("soc2-cc6-8", site, owners)
    open_engagement(owners["compliance"], auditors=[owners["auditor"]], systems=[site["system"]])  # SOC 2 only

    seen = {c for g in exception_other_failures(req, user=owners["auditor"]) for c in g["controls"]}
    everything = {c for g in exception_other_failures(req, user=owners["compliance"]) for c in g["controls"]}

    assert seen and all(c.startswith("soc2-") for c in seen)
    assert any(not c.startswith("soc2-") for c in everything)
