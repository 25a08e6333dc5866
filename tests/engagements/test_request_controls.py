"""Evidence requests name a real control of the engagement's frameworks (the FK), checked on the server."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.engagements.forms import EvidenceRequestForm
from apps.engagements.models import EvidenceRequest
from apps.engagements.services import evidence_request_create
from apps.ledger.models import PendingEntry
from apps.policy.models import Control

pytestmark = pytest.mark.django_db


def _create(world, engineer, **fields):
    return evidence_request_create(
        actor=world.auditor_in,
        engagement_id=world.engagement.pk,
        system_id=world.system_in.pk,
        title="Change approvals",
        due_date=timezone.localdate() + timedelta(days=5),
        assignee=engineer,
        **fields,
    )


def test_a_request_on_a_control_of_the_engagement_links_it_and_fills_the_reference(world, engineer):
    req = _create(world, engineer, control_id="soc2-cc8-1", control_ref="ignored when a control is chosen")
    req.refresh_from_db()
    assert req.control == Control.objects.get(control_id="soc2-cc8-1")
    assert req.control_ref == "soc2 CC8.1"
    entry = PendingEntry.objects.filter(action="evidence_request.created", object_id=str(req.pk)).get()
    assert b'"control_id":"soc2-cc8-1"' in bytes(entry.canonical)


def test_a_control_of_a_framework_outside_the_engagement_is_refused_and_nothing_is_written(world, engineer):
    assert world.engagement.frameworks == ["soc2"]
    with pytest.raises(ValidationError, match="not a control of this engagement's frameworks"):
        _create(world, engineer, control_id="gdpr-35-1")
    with pytest.raises(ValidationError, match="not a control"):
        _create(world, engineer, control_id="no-such-control")
    assert not EvidenceRequest.objects.exists()
    assert not PendingEntry.objects.filter(action="evidence_request.created").exists()


def test_a_free_text_reference_still_works_without_a_control_but_one_of_them_is_required(world, engineer):
    req = _create(world, engineer, control_ref="Internal policy SEC-7")
    assert req.control is None and req.control_ref == "Internal policy SEC-7"
    with pytest.raises(ValidationError, match="name the control"):
        _create(world, engineer, control_ref="  ")


def test_without_frameworks_named_the_engagement_offers_its_systems_frameworks(world, engineer):
    world.system_in.frameworks = ["hipaa"]
    world.system_in.save(update_fields=["frameworks"])
    type(world.engagement).objects.filter(pk=world.engagement.pk).update(frameworks=[])
    world.engagement.refresh_from_db()
    req = _create(world, engineer, control_id="hipaa-164-312-b")
    assert req.control_ref.startswith("hipaa ")
    with pytest.raises(ValidationError):
        _create(world, engineer, control_id="soc2-cc8-1")


def test_the_form_offers_only_the_controls_of_the_engagement_frameworks(world, engineer):
    form = EvidenceRequestForm(engagement=world.engagement)
    offered = {value for value, _ in form.fields["control"].choices if value}
    assert offered == set(Control.objects.filter(framework__code="soc2").values_list("control_id", flat=True))
    posted = EvidenceRequestForm(
        {
            "system": world.system_in.pk,
            "control": "gdpr-35-1",  # posted by hand: not among the choices
            "title": "DPIA",
            "due_date": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "assignee": engineer.pk,
        },
        engagement=world.engagement,
    )
    assert not posted.is_valid() and "control" in posted.errors


def test_the_request_page_links_the_control(client, world, engineer):
    req = _create(world, engineer, control_id="soc2-cc8-1")
    client.force_login(world.auditor_in)
    html = client.get(req.get_absolute_url()).content.decode()
    assert "/controls/soc2-cc8-1/" in html and "soc2 CC8.1" in html


def test_posting_the_form_with_a_control_creates_the_linked_request(client, world, engineer):
    client.force_login(world.auditor_in)
    response = client.post(
        f"/engagements/{world.engagement.pk}/requests/new/",
        {
            "system": world.system_in.pk,
            "control": "soc2-cc8-1",
            "title": "Change approvals",
            "due_date": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "assignee": engineer.pk,
        },
    )
    assert response.status_code == 302
    req = EvidenceRequest.objects.get()
    assert req.control.control_id == "soc2-cc8-1" and req.control_ref == "soc2 CC8.1"
