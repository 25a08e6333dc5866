"""Coverage is truthful: every control counts, "not assessed" is shown apart from "failing", and a control
that no rule (and no manual evidence) covers is never counted as passing or left out (issue 24, item 4)."""

from __future__ import annotations

import pytest

from apps.policy import charts
from apps.policy.mappings import result_flows
from apps.policy.models import Control, CoverageSnapshot, RuleVersion
from apps.policy.selectors import control_list_for_user, overview_for_user
from apps.policy.services import control_assessment_modes, coverage_snapshot, policy_evaluate

pytestmark = pytest.mark.django_db


def _soc2_snapshot(system) -> CoverageSnapshot:
    policy_evaluate()
    coverage_snapshot(system_ids=[system.pk])
    return CoverageSnapshot.objects.get(system=system, framework__code="soc2")


def _mapped_soc2_controls() -> set[str]:
    refs = {r for refs in RuleVersion.objects.filter(current_of__isnull=False).values_list("controls", flat=True)
            for r in refs}  # fmt: skip
    # and what a named control's results satisfy through a cross-framework mapping (apps/policy/mappings.py)
    refs |= {t for s, targets in result_flows().items() if s in refs or s.partition(":")[2] in refs for t in targets}
    return {c for c in Control.objects.filter(framework__code="soc2").values_list("control_id", flat=True)
            if c in refs or f"soc2:{c}" in refs}  # fmt: skip


def _assessed_soc2_controls() -> set[str]:
    """SOC 2 controls that rules or manual evidence (shipped document requirements) assess."""
    modes = control_assessment_modes()
    return {c.control_id for c in Control.objects.filter(framework__code="soc2")
            if modes[c.pk] != Control.Assessment.NONE}  # fmt: skip


def test_every_control_is_counted_and_the_unassessed_ones_are_not_passing(marketing):
    snap = _soc2_snapshot(marketing["system"])
    assert snap.controls_total == 61
    assert snap.applicable == snap.passing + snap.failing + snap.missing + snap.excepted
    assert snap.not_assessed == 61 - snap.applicable and snap.not_assessed > 0
    # the share of every control, not of what happens to have results
    assert snap.coverage == pytest.approx((snap.passing + snap.excepted) / 61)


def test_controls_with_neither_rules_nor_manual_evidence_are_counted_as_such(marketing):
    snap = _soc2_snapshot(marketing["system"])
    mapped, assessed = _mapped_soc2_controls(), _assessed_soc2_controls()
    assert snap.automated == len(mapped)
    assert snap.unmapped == 61 - len(assessed) and snap.unmapped > 0
    assert not set(snap.control_status) - assessed  # nothing without a rule or required document has a status


def test_each_control_says_whether_it_is_automated_manual_or_neither(marketing, compliance_officer):
    modes = control_assessment_modes()
    cc81 = Control.objects.get(control_id="soc2-cc8-1")
    cc21 = Control.objects.get(control_id="soc2-cc2-1")  # no rule, no required document
    assert modes[cc81.pk] == Control.Assessment.AUTOMATED
    assert modes.get(cc21.pk, Control.Assessment.NONE) == Control.Assessment.NONE
    rows = {r["control"].control_id: r for r in control_list_for_user(user=compliance_officer, framework="soc2")[0]}
    assert rows["soc2-cc8-1"]["assessment"] == Control.Assessment.AUTOMATED
    assert rows["soc2-cc2-1"]["assessment"] == Control.Assessment.NONE


def test_the_overview_and_its_chart_show_not_assessed_apart_from_failing(marketing, compliance_officer):
    snap = _soc2_snapshot(marketing["system"])
    overview = overview_for_user(user=compliance_officer)
    (soc2,) = [f for f in overview.frameworks if f.code == "soc2"]
    assert (soc2.controls_total, soc2.not_assessed, soc2.failing) == (61, snap.not_assessed, snap.failing)
    assert soc2.unmapped == snap.unmapped
    assert soc2.coverage == pytest.approx((snap.passing + snap.excepted) / 61)
    figure = charts.coverage_by_framework(overview.frameworks)
    traces = {t["name"]: t["x"] for t in figure["data"]}
    i = [f.code for f in overview.frameworks].index("soc2")
    assert traces["Not assessed"][i] == snap.not_assessed
    assert traces["Failing"][i] == snap.failing
    assert sum(t[i] for t in traces.values()) == 61
    (system_row,) = [s for s in overview.at_risk if s["system"].pk == marketing["system"].pk]
    assert system_row["not_assessed"] == snap.not_assessed


def test_the_overview_page_says_how_many_controls_are_not_assessed(marketing, client, compliance_officer):
    snap = _soc2_snapshot(marketing["system"])
    client.force_login(compliance_officer)
    html = client.get("/").content.decode()
    assert f"{snap.not_assessed} of 61 controls not assessed" in html



def test_the_controls_page_says_how_each_control_is_assessed(marketing, client, compliance_officer):
    client.force_login(compliance_officer)
    # 61 controls: two pages of the list (50 a page)
    html = "".join(client.get(f"/controls/?framework=soc2&page={n}").content.decode() for n in (1, 2))
    assert html.count("assessment-none") == 61 - len(_assessed_soc2_controls())
    assert "Neither: not assessed" in html and "Automated (rules)" in html


def test_a_control_page_says_it_is_not_assessed_when_nothing_covers_it(client, compliance_officer):
    client.force_login(compliance_officer)
    assert "Neither: not assessed" in client.get("/controls/soc2-cc2-1/").content.decode()
    assert "Automated (rules)" in client.get("/controls/soc2-cc8-1/").content.decode()
