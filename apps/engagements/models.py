"""Audit engagements and what happens inside one: evidence requests, reviews and samples.

An engagement gives its auditors read-only access to the evidence of its systems that is
effective within the observation window, while the access window is open (decided per
request by apps.accounts.scoping). Everything an auditor marks, asks for or tests here is
part of the engagement's record; every change is also a ledger entry.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from apps.common.states import StateMachine
from apps.inventory.models import FrameworkCode
from apps.ledger.models import Checkpoint


class Engagement(models.Model):
    """An audit: who looks (auditors), at what (systems, frameworks), which period, and when."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        OPEN = "open", "Open"
        ENDED = "ended", "Ended"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    auditors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="engagements")
    systems = models.ManyToManyField("inventory.System", related_name="engagements")
    frameworks = ArrayField(models.CharField(max_length=20, choices=FrameworkCode.choices), default=list, blank=True)
    observation_start = models.DateTimeField(help_text="Evidence effective from this time is under audit.")
    observation_end = models.DateTimeField(help_text="…up to (not including) this time.")
    access_start = models.DateTimeField(help_text="Auditors may look from this time…")
    access_end = models.DateTimeField(help_text="…until this time; access ends by itself.")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    # Set once, when `engagement.ended` is recorded (by the beat task, or by ending it early).
    ended_recorded_at = models.DateTimeField(null=True, blank=True)
    # The size of the ledger checkpoint current when the engagement was opened (one checkpoint per size):
    # the log must only grow from it (consistency proof on the engagement's page and in its packs). A size,
    # not a foreign key: the append-only ledger tables stay free of references from other apps. Null: the
    # log had no checkpoint yet.
    opening_checkpoint_size = models.BigIntegerField(
        null=True, blank=True, help_text="Tree size of the signed ledger checkpoint current when it was opened.",
    )

    class Meta:
        ordering = ["-access_start", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(observation_end__gt=F("observation_start")),
                name="engagement_observation_window_valid",
                violation_error_message="The observation window must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(access_end__gt=F("access_start")),
                name="engagement_access_window_valid",
                violation_error_message="The access window must end after it starts.",
            ),
        ]
        indexes = [models.Index(fields=["access_end", "access_start"], name="engagement_access_window")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("engagements:detail", kwargs={"pk": self.pk})

    @property
    def opening_checkpoint(self):
        """The signed checkpoint current when the engagement was opened, or None."""
        if self.opening_checkpoint_size is None:
            return None
        return Checkpoint.objects.filter(size=self.opening_checkpoint_size).first()

    def status_at(self, now=None) -> str:
        now = now or timezone.now()
        if now < self.access_start:
            return self.Status.SCHEDULED
        if now < self.access_end:
            return self.Status.OPEN
        return self.Status.ENDED

    @property
    def status(self) -> str:
        return self.status_at()

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def get_frameworks_display(self) -> list[str]:
        return [FrameworkCode(v).label for v in self.frameworks if v in FrameworkCode.values]

    def framework_codes(self) -> list[str]:
        """The frameworks in scope: the engagement's own list, or (none named) those of its systems."""
        if self.frameworks:
            return list(self.frameworks)
        return sorted({code for codes in self.systems.values_list("frameworks", flat=True) for code in codes or []})


class EvidenceRequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    ACCEPTED = "accepted", "Accepted"
    REOPENED = "reopened", "Reopened"


class EvidenceRequest(StateMachine, models.Model):
    """One line of the PBC ("provided by client") list: an auditor asks for evidence on a control."""

    Status = EvidenceRequestStatus

    # status -> statuses it may move to (services check every move against this table).
    TRANSITIONS: dict[str, frozenset[str]] = {
        EvidenceRequestStatus.OPEN: frozenset({EvidenceRequestStatus.ANSWERED}),
        EvidenceRequestStatus.ANSWERED: frozenset({EvidenceRequestStatus.ACCEPTED, EvidenceRequestStatus.REOPENED}),
        EvidenceRequestStatus.REOPENED: frozenset({EvidenceRequestStatus.ANSWERED}),
        EvidenceRequestStatus.ACCEPTED: frozenset({EvidenceRequestStatus.REOPENED}),
    }
    WAITING_FOR_ANSWER = frozenset({EvidenceRequestStatus.OPEN, EvidenceRequestStatus.REOPENED})

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="requests")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="evidence_requests")
    # The control asked about (one of the engagement's frameworks). `control_ref` is what people read:
    # filled from the control when one is chosen ("soc2 CC8.1"); free text on requests made before the FK.
    control = models.ForeignKey(
        "policy.Control", null=True, blank=True, on_delete=models.PROTECT, related_name="evidence_requests"
    )
    control_ref = models.CharField(max_length=120, help_text="The control, e.g. 'soc2 CC8.1' or 'hipaa 164.312(b)'.")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    due_date = models.DateField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assigned_evidence_requests"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    status_since = models.DateTimeField()
    answer_note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EvidenceRequestStatus.values),
                name="evidence_request_status_valid",
                violation_error_message="Status must be open, answered, accepted or reopened.",
            ),
        ]
        indexes = [models.Index(fields=["engagement", "status", "due_date"], name="evidence_request_engagement")]

    def __str__(self) -> str:
        return f"{self.control_ref}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("engagements:request", kwargs={"pk": self.engagement_id, "request_pk": self.pk})

    def transition_refusal(self, status: str) -> str:
        return f"an evidence request that is {self.status} cannot become {status}"

    @property
    def is_overdue(self) -> bool:
        return self.status in self.WAITING_FOR_ANSWER and self.due_date < timezone.localdate()


class EvidenceRequestReminder(models.Model):
    """One overdue reminder sent for a request on one day: the unique day makes the beat task idempotent."""

    request = models.ForeignKey(EvidenceRequest, on_delete=models.PROTECT, related_name="reminders")
    day = models.DateField()
    recipients = ArrayField(models.CharField(max_length=150), default=list, blank=True)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "day"], name="evidence_request_reminder_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"request {self.request_id} reminded on {self.day:%Y-%m-%d}"


class EvidenceRequestItem(models.Model):
    """Evidence given as (part of) an answer: existing evidence, or a receipt uploaded for it."""

    request = models.ForeignKey(EvidenceRequest, on_delete=models.PROTECT, related_name="items")
    evidence = models.ForeignKey("evidence.Evidence", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    receipt = models.ForeignKey("ingest.Receipt", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(evidence__isnull=False) | Q(receipt__isnull=False),
                name="evidence_request_item_has_something",
                violation_error_message="An answer item names evidence or an uploaded receipt.",
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.request_id}: evidence {self.evidence_id or '-'} receipt {self.receipt_id or '-'}"


class ReviewMark(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    FLAGGED = "flagged", "Flagged"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class EvidenceReview(models.Model):
    """An auditor's mark on one piece of evidence within an engagement (latest mark wins; the ledger keeps all)."""

    Mark = ReviewMark

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="reviews")
    evidence = models.ForeignKey("evidence.Evidence", on_delete=models.PROTECT, related_name="reviews")
    mark = models.CharField(max_length=20, choices=ReviewMark.choices)
    comment = models.TextField(blank=True, help_text="Shown to the system's owners.")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["engagement", "evidence"], name="evidence_review_one_per_engagement"),
            models.CheckConstraint(
                condition=Q(mark__in=ReviewMark.values),
                name="evidence_review_mark_valid",
                violation_error_message="Mark must be accepted, flagged or not applicable.",
            ),
            models.CheckConstraint(
                condition=~Q(mark=ReviewMark.FLAGGED) | ~Q(comment=""),
                name="evidence_review_flag_has_comment",
                violation_error_message="A flag needs a comment that tells the owner what is wrong.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mark}: evidence {self.evidence_id}"


class Sample(models.Model):
    """A reproducible random sample of a population, drawn with a recorded seed."""

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="samples")
    population = models.CharField(max_length=60, help_text="Key of the population selector (populations.py).")
    population_size = models.PositiveIntegerField()
    population_digest = models.CharField(max_length=64, help_text="sha256 of the population's ordered item keys.")
    size = models.PositiveIntegerField()
    seed = models.CharField(max_length=64)
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    drawn_at = models.DateTimeField()

    class Meta:
        ordering = ["-drawn_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gte=1) & Q(size__lte=F("population_size")),
                name="sample_size_within_population",
                violation_error_message="A sample holds at least one item and no more than the population.",
            ),
        ]

    def __str__(self) -> str:
        return f"sample {self.pk}: {self.size} of {self.population_size} {self.population}"

    def get_absolute_url(self) -> str:
        return reverse("engagements:sample", kwargs={"pk": self.engagement_id, "sample_pk": self.pk})


class SampleResult(models.TextChoices):
    UNTESTED = "untested", "Not tested yet"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class SampleItem(models.Model):
    """One drawn item and the auditor's test result for it."""

    Result = SampleResult

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveIntegerField()
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    label = models.CharField(max_length=500)
    attributes = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the population attached to the item when it was drawn (populations.py): for a "
        "production change, its linked evidence, sign-offs and rule results.",
    )
    result = models.CharField(max_length=20, choices=SampleResult.choices, default=SampleResult.UNTESTED)
    note = models.TextField(blank=True)
    tested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sample", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "position"], name="sample_item_position_unique"),
            models.CheckConstraint(
                condition=Q(result__in=SampleResult.values),
                name="sample_item_result_valid",
                violation_error_message="Unknown test result.",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.object_type}:{self.object_id} {self.result}"


class FlagStatus(models.TextChoices):
    OPEN = "open", "Waiting for the owner"
    ANSWERED = "answered", "Answered, waiting for re-review"
    ACCEPTED = "accepted", "Accepted"


class FlagThread(StateMachine, models.Model):
    """An auditor's flag on one piece of evidence of a control, and the conversation that settles it.

    The auditor flags (the evidence's review mark becomes "flagged"), the system's owners answer or
    upload, the auditor re-reviews: sends it back (open again) or accepts (the mark becomes
    "accepted"). Every message is a FlagMessage and a ledger entry."""

    Status = FlagStatus

    TRANSITIONS: dict[str, frozenset[str]] = {
        FlagStatus.OPEN: frozenset({FlagStatus.ANSWERED, FlagStatus.ACCEPTED}),
        FlagStatus.ANSWERED: frozenset({FlagStatus.OPEN, FlagStatus.ACCEPTED}),
        FlagStatus.ACCEPTED: frozenset(),
    }
    UNSETTLED = frozenset({FlagStatus.OPEN, FlagStatus.ANSWERED})

    engagement = models.ForeignKey(Engagement, on_delete=models.PROTECT, related_name="flags")
    control = models.ForeignKey("policy.Control", on_delete=models.PROTECT, related_name="engagement_flags")
    evidence = models.ForeignKey("evidence.Evidence", on_delete=models.PROTECT, related_name="engagement_flags")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="engagement_flags")
    status = models.CharField(max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    status_since = models.DateTimeField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=FlagStatus.values),
                name="flag_thread_status_valid",
                violation_error_message="Status must be open, answered or accepted.",
            ),
            models.UniqueConstraint(
                fields=["engagement", "control", "evidence"],
                condition=~Q(status=FlagStatus.ACCEPTED),
                name="flag_thread_one_unsettled",
                violation_error_message="This evidence is already flagged for this control: answer in its thread.",
            ),
        ]
        indexes = [models.Index(fields=["engagement", "control", "status"], name="flag_thread_engagement")]

    def __str__(self) -> str:
        return f"flag {self.pk}: evidence {self.evidence_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("engagements:flag", kwargs={"pk": self.engagement_id, "flag_pk": self.pk})

    def get_workspace_url(self) -> str:
        """The workspace page of the flagged control in its engagement."""
        return reverse("engagements:workspace", kwargs={"pk": self.engagement_id, "control": self.control.ref})

    def transition_refusal(self, status: str) -> str:
        return f"a flag that is {self.get_status_display().lower()} cannot become {status}"


class FlagMessageKind(models.TextChoices):
    FLAGGED = "flagged", "Flagged"
    ANSWERED = "answered", "Answered"
    REOPENED = "reopened", "Sent back"
    ACCEPTED = "accepted", "Accepted"


class FlagMessage(models.Model):
    """One message of a flag thread: what was said, by whom, and what it did to the flag."""

    Kind = FlagMessageKind

    thread = models.ForeignKey(FlagThread, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=10, choices=FlagMessageKind.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(blank=True)
    evidence = ArrayField(models.BigIntegerField(), default=list, blank=True, help_text="Evidence linked in an answer.")
    receipt = models.ForeignKey("ingest.Receipt", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=FlagMessageKind.values),
                name="flag_message_kind_valid",
                violation_error_message="Unknown kind of flag message.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on flag {self.thread_id} by {self.author_id}"
