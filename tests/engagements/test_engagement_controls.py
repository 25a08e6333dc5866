"""The engagement page lists every control of its frameworks with its status and how it is assessed
(issue 24, done-when): an auditor sees a passing manual control, a not-assessed one, never a gap."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.attestations.models import DocumentRequirement
from apps.attestations.services import DocumentUpload, document_approve, document_upload
from apps.policy.models import Control
from apps.policy.services import coverage_snapshot, policy_evaluate

ROW = re.compile(r'<tr data-control="([^"]+)" data-status="([^"]+)" data-mode="([^"]+)">')


def test_the_engagement_page_lists_every_soc2_control_with_an_honest_status(world, client, make_user):
    world.system_in.frameworks = ["soc2"]
    world.system_in.save(update_fields=["frameworks"])
    engineer = make_user("engineer")
    world.system_in.engineering_owners.add(engineer)
    requirement = DocumentRequirement.objects.get(control__control_id="soc2-cc1-1", kind="policy")
    document = document_upload(
        actor=engineer, requirement_id=requirement.pk, system=world.system_in,
        upload=DocumentUpload(body=b"code of conduct", filename="conduct.md", content_type="text/markdown",
                              title="Code of conduct", document_date=timezone.now() - timedelta(days=30)),
    )  # fmt: skip
    document_approve(actor=world.officer, document_id=document.pk)
    policy_evaluate(actor="system:test")
    coverage_snapshot()

    client.force_login(world.auditor_in)
    response = client.get(reverse("engagements:detail", args=[world.engagement.pk]))

    rows = {c: (status, mode) for c, status, mode in ROW.findall(response.content.decode())}
    assert set(rows) == set(Control.objects.filter(framework__code="soc2").values_list("control_id", flat=True))
    assert len(rows) == 61
    assert rows["soc2-cc1-1"] == ("pass", Control.Assessment.MANUAL)
    # no rule and no document requirement: shown, and not passing
    assert rows["soc2-p6-3"] == ("not-assessed", Control.Assessment.NONE)
    # required documents that nobody uploaded: missing, not hidden
    assert rows["soc2-cc5-3"] == ("missing", Control.Assessment.MANUAL)


def test_each_rule_assessed_control_of_the_engagement_links_to_its_evidence_in_scope(world, client):
    """From the engagement's controls table to the evidence a control's results used, within the engagement."""
    from html import unescape

    from apps.policy.models import ControlResult

    world.system_in.frameworks = ["soc2"]
    world.system_in.save(update_fields=["frameworks"])
    policy_evaluate(actor="system:test")
    coverage_snapshot()
    # the world's sources are bound to no system, so its evidence counts for no rule: say what a result used
    result = ControlResult.objects.filter(system=world.system_in, control__control_id="soc2-cc8-1").first()
    ControlResult.objects.filter(pk=result.pk).update(evidence_ids=[world.evidence_in.pk, world.evidence_old.pk])
    client.force_login(world.auditor_in)
    body = client.get(reverse("engagements:detail", args=[world.engagement.pk])).content.decode()
    row = re.search(rf'<tr data-control="{result.control.control_id}".*?</tr>', body, re.S).group(0)
    link = unescape(re.search(r'<a href="(/evidence/\?[^"]*)"', row).group(1))
    assert "control=soc2%3A" in link and f"system={world.system_in.slug}" in link and "since=" in link
    listed = {int(pk) for pk in re.findall(r'href="/evidence/(\d+)/"', client.get(link).content.decode())}
    assert listed == {world.evidence_in.pk}  # evidence_old is before the engagement's observation window
