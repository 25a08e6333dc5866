"""Issue 21, item 1: the engagement workspace per control — a page per control, a derived status, flag threads
between the auditor and the system's owners (every message in the ledger) and the workpaper workbook."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from apps.engagements.models import EvidenceReview, FlagMessage, FlagThread
from apps.engagements.threads import flag_accept, flag_answer, flag_raise, flag_reopen
from apps.engagements.workspace import ControlReviewStatus, control_review_statuses, engagement_progress
from apps.ingest.models import Receipt
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.policy.models import Control, ControlResult, ControlResultChange
from apps.policy.services import policy_evaluate

pytestmark = pytest.mark.django_db

CONTROL = "soc2-cc8-1"
REF = f"soc2:{CONTROL}"
WORKSPACE_MAX_QUERIES = 40


def control_with_evidence(world):
    """soc2-cc8-1 on the engagement's system, with a result that used evidence in and before the window."""
    world.system_in.frameworks = ["soc2"]
    world.system_in.save(update_fields=["frameworks"])
    policy_evaluate(actor="system:test")
    result = ControlResult.objects.filter(system=world.system_in, control__control_id=CONTROL).first()
    ControlResult.objects.filter(pk=result.pk).update(evidence_ids=[world.evidence_in.pk, world.evidence_old.pk])
    return Control.objects.get(framework__code="soc2", control_id=CONTROL)


def workspace_url(world, ref=REF):
    return reverse("engagements:workspace", args=[world.engagement.pk, ref])


def flag_entries(thread) -> list[dict]:
    """The ledger's record of a thread (pending or sequenced), oldest first."""
    rows = []
    for model in (LedgerEntry, PendingEntry):
        for entry in model.objects.filter(object_type="engagements.flagthread", object_id=str(thread.pk)):
            rows.append((entry.recorded_at, entry.action, json.loads(bytes(entry.canonical))["data"]))
    return [{"action": action, **data} for _, action, data in sorted(rows, key=lambda r: r[0])]


def test_an_outsider_gets_404_on_the_workspace_and_on_the_workpaper(world, client, engineer):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)  # an owner answers flags, but the workspace is the auditors'
    urls = [workspace_url(world), reverse("engagements:workpaper", args=[world.engagement.pk])]
    for outsider in (world.auditor_out, world.auditor_ended, engineer):
        client.force_login(outsider)
        for url in urls:
            assert client.get(url).status_code == 404, (outsider.username, url)
    for insider in (world.auditor_in, world.officer):
        client.force_login(insider)
        for url in urls:
            assert client.get(url).status_code == 200, (insider.username, url)
    client.force_login(world.auditor_in)  # a control outside the engagement's frameworks
    assert client.get(workspace_url(world, "gdpr-35-1")).status_code == 404


def test_the_auditor_flags_the_owner_answers_the_auditor_re_reviews_and_accepts_each_message_in_the_ledger(
    world, engineer
):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)
    thread = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                        evidence_id=world.evidence_in.pk,
                        comment="Two failing tests were waived without a ticket.")  # fmt: skip
    assert engineer.notifications.filter(url=thread.get_absolute_url()).exists()
    flag_answer(actor=engineer, flag_id=thread.pk, body="The waiver is ticket PAY-12.")
    flag_reopen(actor=world.auditor_in, flag_id=thread.pk, body="PAY-12 has no approver: who signed it?")
    flag_answer(actor=engineer, flag_id=thread.pk, body="Signed by the risk owner, see PAY-12 comment 3.",
                evidence_ids=[world.evidence_in.pk])  # fmt: skip
    flag_accept(actor=world.auditor_in, flag_id=thread.pk, body="Accepted.")

    thread.refresh_from_db()
    assert thread.status == FlagThread.Status.ACCEPTED
    messages = list(thread.messages.order_by("at", "id"))
    assert [m.kind for m in messages] == ["flagged", "answered", "reopened", "answered", "accepted"]
    entries = flag_entries(thread)
    assert [e["action"] for e in entries] == ["flag.raised", "flag.answered", "flag.reopened", "flag.answered",
                                              "flag.accepted"]  # fmt: skip
    assert [e["message"] for e in entries] == [m.pk for m in messages]
    assert [e["body"] for e in entries] == [m.body for m in messages]
    assert entries[3]["linked_evidence"] == [str(world.evidence_in.pk)]
    assert EvidenceReview.objects.get(engagement=world.engagement, evidence=world.evidence_in).mark == "accepted"


def test_only_the_engagements_auditors_flag_and_re_review_and_only_owners_answer(world, engineer, make_user):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)
    stranger = make_user("engineer")  # owns nothing
    for actor in (engineer, world.auditor_out):
        with pytest.raises(PermissionDenied):
            flag_raise(actor=actor, engagement_id=world.engagement.pk, control_ref=REF,
                       evidence_id=world.evidence_in.pk, comment="not mine to flag")  # fmt: skip
    thread = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                        evidence_id=world.evidence_in.pk, comment="Which approver?")  # fmt: skip
    for actor in (world.auditor_in, stranger, world.auditor_out):
        with pytest.raises(PermissionDenied):
            flag_answer(actor=actor, flag_id=thread.pk, body="answering for someone else")
    flag_answer(actor=engineer, flag_id=thread.pk, body="Ann approved it.")
    for move in (flag_accept, flag_reopen):
        with pytest.raises(PermissionDenied):
            move(actor=engineer, flag_id=thread.pk, body="the owner cannot settle their own flag")
    assert FlagMessage.objects.filter(thread=thread).count() == 2


def test_evidence_outside_the_window_or_without_a_comment_cannot_be_flagged_and_nothing_is_written(world):
    control_with_evidence(world)
    with pytest.raises(ValidationError):  # the result used it, but it is before the observation window
        flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                   evidence_id=world.evidence_old.pk, comment="too old")  # fmt: skip
    with pytest.raises(ValidationError):
        flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                   evidence_id=world.evidence_in.pk, comment="   ")  # fmt: skip
    assert not FlagThread.objects.exists() and not EvidenceReview.objects.exists()


def test_a_bad_flag_posted_to_the_page_answers_400_json_and_writes_nothing(world, client):
    control_with_evidence(world)
    client.force_login(world.auditor_in)
    response = client.post(reverse("engagements:flag_create", args=[world.engagement.pk, REF]),
                           {"evidence": world.evidence_in.pk, "comment": ""},
                           HTTP_ACCEPT="application/json")  # fmt: skip
    assert response.status_code == 400
    assert "comment" in response.json()["error"]
    assert not FlagThread.objects.exists()


def test_the_control_status_moves_not_started_evidence_complete_flagged_accepted(world, engineer):
    world.system_in.frameworks = ["soc2"]
    world.system_in.save(update_fields=["frameworks"])
    policy_evaluate(actor="system:test")
    control = Control.objects.get(framework__code="soc2", control_id=CONTROL)

    def status():
        return control_review_statuses(engagement=world.engagement)[control.pk]

    ControlResult.objects.filter(control=control).update(evidence_ids=[])
    assert status() == ControlReviewStatus.NOT_STARTED
    control_with_evidence(world)
    assert status() == ControlReviewStatus.EVIDENCE_COMPLETE
    world.system_in.engineering_owners.add(engineer)
    thread = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                        evidence_id=world.evidence_in.pk, comment="Which approver?")  # fmt: skip
    assert status() == ControlReviewStatus.FLAGGED
    flag_answer(actor=engineer, flag_id=thread.pk, body="Ann.")
    assert status() == ControlReviewStatus.FLAGGED  # answered, not yet re-reviewed
    progress = engagement_progress(engagement=world.engagement)
    assert progress["accepted"] == 0
    flag_accept(actor=world.auditor_in, flag_id=thread.pk)
    assert status() == ControlReviewStatus.ACCEPTED
    progress = engagement_progress(engagement=world.engagement)
    assert progress["accepted"] == 1 and progress["total"] == 61


def test_the_engagement_page_shows_a_progress_bar_and_links_each_control_to_its_workspace(world, client):
    control_with_evidence(world)
    client.force_login(world.auditor_in)
    body = client.get(reverse("engagements:detail", args=[world.engagement.pk])).content.decode()
    bar = re.search(r'<progress[^>]*aria-labelledby="progress-title"[^>]*>', body).group(0)  # role progressbar
    assert 'value="0"' in bar and 'max="61"' in bar
    assert f'href="{workspace_url(world)}"' in body


def test_the_workspace_shows_the_requirement_the_evidence_in_the_window_and_the_plain_language_result(
    world, client, django_assert_max_num_queries
):
    control = control_with_evidence(world)
    client.force_login(world.auditor_in)
    with django_assert_max_num_queries(WORKSPACE_MAX_QUERIES):
        body = client.get(workspace_url(world)).content.decode()
    assert control.title in body
    assert f'href="/evidence/{world.evidence_in.pk}/"' in body
    assert f'href="/evidence/{world.evidence_old.pk}/"' not in body  # before the observation window
    result = ControlResult.objects.filter(system=world.system_in, control=control).first()
    assert (result.message or result.rule_version.title) in body


def test_the_workpaper_opens_with_an_index_and_a_sheet_per_control_with_only_the_evidence_in_the_window(
    world, client, engineer, django_assert_max_num_queries
):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)
    flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
               evidence_id=world.evidence_in.pk, comment="Which approver?")  # fmt: skip
    client.force_login(world.auditor_in)
    with django_assert_max_num_queries(WORKSPACE_MAX_QUERIES):  # the same for 61 controls as for one
        response = client.get(reverse("engagements:workpaper", args=[world.engagement.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    controls = list(Control.objects.filter(framework__code="soc2").values_list("control_id", flat=True))
    assert book.sheetnames[0] == "Index"
    assert len(book.sheetnames) == 1 + len(controls) == 62
    index = [[c for c in row] for row in book["Index"].iter_rows(values_only=True)]
    listed = {row[1]: row for row in index if row and row[1] in controls}
    assert set(listed) == set(controls)
    assert listed[CONTROL][4] == "Flagged"
    sheet = book[CONTROL]
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert world.evidence_in.title in cells and world.evidence_in.pk in cells
    assert world.evidence_old.title not in cells and world.evidence_old.pk not in cells
    assert "Which approver?" in cells


def test_the_owner_finds_the_flag_among_their_requests_and_the_auditor_home_links_the_workspace(
    world, client, engineer
):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)
    thread = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                        evidence_id=world.evidence_in.pk, comment="Which approver?")  # fmt: skip
    client.force_login(engineer)
    assert f'href="{thread.get_absolute_url()}"' in client.get(reverse("engagements:my_requests")).content.decode()
    page = client.get(thread.get_absolute_url())
    assert page.status_code == 200 and "Which approver?" in page.content.decode()
    client.force_login(world.auditor_in)
    home = client.get("/").content.decode()
    assert f'href="{workspace_url(world)}" data-home-link="workspace"' in home
    client.force_login(world.auditor_out)  # another engagement's auditor sees neither the thread nor its link
    assert client.get(thread.get_absolute_url()).status_code == 404
    assert workspace_url(world) not in client.get("/").content.decode()


def test_accepting_evidence_from_the_workspace_returns_there_and_never_to_another_site(world, client):
    control_with_evidence(world)
    client.force_login(world.auditor_in)
    url = reverse("engagements:review", args=[world.engagement.pk, world.evidence_in.pk])
    form = {"engagement": world.engagement.pk, "mark": "accepted"}
    assert client.post(url, {**form, "next": workspace_url(world)})["Location"] == workspace_url(world)
    assert client.post(url, {**form, "next": "https://evil.example/engagements/"})["Location"] == (
        f"/evidence/{world.evidence_in.pk}/"
    )
    assert (
        control_review_statuses(engagement=world.engagement)[
            Control.objects.get(framework__code="soc2", control_id=CONTROL).pk
        ]
        == ControlReviewStatus.ACCEPTED
    )


def test_the_owner_answers_a_flag_with_an_upload_through_ingest_and_a_bad_one_writes_nothing(
    world, engineer, django_capture_on_commit_callbacks
):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)
    thread = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                        evidence_id=world.evidence_in.pk, comment="Where is the waiver?")  # fmt: skip
    upload = {"body": b"waiver PAY-12 approved by Ann", "filename": "waiver.txt", "content_type": "text/plain"}
    with pytest.raises(ValidationError):  # effective before the observation window
        flag_answer(actor=engineer, flag_id=thread.pk, body="here",
                    upload={**upload, "effective_at": timezone.now() - timedelta(days=400)})  # fmt: skip
    thread.refresh_from_db()
    assert thread.status == FlagThread.Status.OPEN and thread.messages.count() == 1
    assert not Receipt.objects.filter(filename="waiver.txt").exists()
    with django_capture_on_commit_callbacks() as callbacks:
        flag_answer(actor=engineer, flag_id=thread.pk, body="The signed waiver.",
                    upload={**upload, "effective_at": timezone.now() - timedelta(days=2)})  # fmt: skip
    receipt = Receipt.objects.get(filename="waiver.txt")
    assert receipt.system_id == world.system_in.pk and callbacks  # parsed by the worker after commit
    assert thread.messages.get(kind="answered").receipt_id == receipt.pk
    assert flag_entries(thread)[-1]["receipt"] == receipt.pk


def test_an_owner_cannot_settle_a_flag_through_the_page(world, client, engineer):
    control_with_evidence(world)
    world.system_in.engineering_owners.add(engineer)
    thread = flag_raise(actor=world.auditor_in, engagement_id=world.engagement.pk, control_ref=REF,
                        evidence_id=world.evidence_in.pk, comment="Where is the waiver?")  # fmt: skip
    client.force_login(engineer)
    review = reverse("engagements:flag_review", args=[world.engagement.pk, thread.pk])
    assert client.post(review, {"decision": "accept", "body": "fine by me"}).status_code == 403
    client.force_login(world.auditor_in)
    answer = reverse("engagements:flag_answer", args=[world.engagement.pk, thread.pk])
    assert client.post(answer, {"body": "answering my own flag"}).status_code == 403
    thread.refresh_from_db()
    assert thread.status == FlagThread.Status.OPEN and thread.messages.count() == 1


def test_a_long_result_list_is_folded_so_the_sections_below_stay_within_reach(world, client):
    """The evidence comes first; a result list of more than ten rows is folded under its count, a short one open."""
    control = control_with_evidence(world)
    change = ControlResultChange.objects.filter(control=control, system=world.system_in).latest("changed_at")
    start, end = world.engagement.observation_start, world.engagement.observation_end
    for _ in range(11):  # eleven more changes inside the observation window
        change.pk = None
        change.changed_at = start + (end - start) / 2
        change.save()
    changes = ControlResultChange.objects.filter(control=control, system=world.system_in,
                                                 changed_at__gte=start, changed_at__lt=end).count()
    current = ControlResult.objects.filter(control=control, system=world.system_in).count()
    client.force_login(world.auditor_in)
    body = client.get(workspace_url(world)).content.decode()
    folds = re.findall(r'<details class="workspace-results"( open)?>\s*<summary><h3>([^<]+)</h3>', body)
    assert current <= 10 < changes
    assert folds == [(" open", f"Current results ({current})"),
                     ("", f"Result changes in the observation window ({changes})")]
