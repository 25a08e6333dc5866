"""Exceptions: time-bound, attributable acceptances of a failing (or missing) control result.

- ExceptionRequest: what is accepted (control on a system, optionally narrowed to one
  artifact such as a release), why, how risky (likelihood x impact -> tier, tiers.py),
  until when. Its status moves only along TRANSITIONS, one service per move (services.py).
  `version` grows with every edit; `digest()` is the sha256 of the canonical JSON of what
  an approver approves, so an approval names exactly the wording it applied to.
- Approval: one person's decision on one version of a request, in one slot of the tier's
  chain. Editing the request voids earlier approvals (voided_at) and asks again.
- ExceptionReminder: one row per reminder sent, so each lead time reminds once.
- ExceptionMetricSnapshot: the daily rollup the dashboard reads (approval latency, by tier, by age).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse

from apps.common.states import StateMachine
from apps.exceptions.tiers import Slot, Tier
from apps.ledger.canonical import canonical_json, to_jsonable


class ExceptionRequest(StateMachine, models.Model):
    """A request to accept a failing control on a scope until a date; active once its chain approves it."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved (active)"
        EXPIRED = "expired", "Expired"
        REJECTED = "rejected", "Rejected"
        REVOKED = "revoked", "Revoked"

    Tier = Tier

    # The allowed moves, as data. PENDING -> PENDING is an edit (new version);
    # APPROVED -> PENDING is a return to review after a material change.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.DRAFT: frozenset({Status.DRAFT, Status.PENDING}),
        Status.PENDING: frozenset({Status.PENDING, Status.APPROVED, Status.REJECTED, Status.REVOKED, Status.EXPIRED}),
        Status.APPROVED: frozenset({Status.EXPIRED, Status.REVOKED, Status.PENDING}),
        Status.EXPIRED: frozenset(),
        Status.REJECTED: frozenset(),
        Status.REVOKED: frozenset(),
    }
    OPEN = (Status.DRAFT, Status.PENDING)
    FINAL = (Status.EXPIRED, Status.REJECTED, Status.REVOKED)

    control = models.ForeignKey("policy.Control", on_delete=models.PROTECT, related_name="exceptions")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="exceptions")
    artifact = models.ForeignKey(
        "evidence.Artifact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exceptions",
        help_text="Narrows the exception to one release or artifact; empty covers the whole system.",
    )
    justification = models.TextField()
    compensating_controls = models.TextField()
    likelihood = models.PositiveSmallIntegerField()
    impact = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=10, choices=Tier.choices)
    expires_at = models.DateTimeField(help_text="Requested expiry; the exception ends at this instant.")
    evidence_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)
    renewal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="renewals")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # What the final approval applied to: covered results (status, evidence, findings), the rating.
    frozen_state = models.JSONField(default=dict, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True, help_text="Why an active exception returned to review.")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="First submitted for approval.")
    pending_since = models.DateTimeField(null=True, blank=True, help_text="Waiting for approval since (last ask).")
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="Approved, rejected or revoked.")
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Expired, rejected or revoked.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(likelihood__gte=1, likelihood__lte=5, impact__gte=1, impact__lte=5),
                name="exception_rating_range",
                violation_error_message="Likelihood and impact go from 1 to 5.",
            ),
            models.CheckConstraint(
                condition=models.Q(tier__in=Tier.values),
                name="exception_tier_valid",
                violation_error_message="Tier must be low, medium, high or critical.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "pending", "approved", "expired", "rejected", "revoked"]),
                name="exception_status_valid",
                violation_error_message="Unknown exception status.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="approved") | models.Q(approved_at__isnull=False),
                name="exception_approved_has_time",
                violation_error_message="An approved exception records when it was approved.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="revoked") | ~models.Q(revoke_reason=""),
                name="exception_revoked_has_reason",
                violation_error_message="A revocation needs a reason.",
            ),
            models.UniqueConstraint(
                fields=["renewal_of"],
                condition=models.Q(status__in=["draft", "pending"]),
                name="exception_one_open_renewal",
                violation_error_message="This exception already has an open renewal.",
            ),
        ]
        indexes = [
            # exception_covers(): approved exceptions of a control on a system, by expiry.
            models.Index(
                fields=["control", "system", "expires_at"],
                condition=models.Q(status="approved"),
                name="exception_active_cover",
            ),
            models.Index(fields=["status", "expires_at"], name="exception_status_expiry"),
            models.Index(fields=["system", "status"], name="exception_system_status"),
        ]

    def __str__(self) -> str:
        return f"EX-{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("exceptions:detail", kwargs={"pk": self.pk})

    @property
    def reference(self) -> str:
        return f"EX-{self.pk}"

    # ---- what an approver approves

    def approvable(self) -> dict:
        """The fields an approval binds to (everything that changes what is accepted)."""
        return to_jsonable(
            {
                "id": self.pk,
                "control": self.control.control_id,
                "system": self.system.slug,
                "artifact": self.artifact.uri if self.artifact_id else None,
                "justification": self.justification,
                "compensating_controls": self.compensating_controls,
                "likelihood": self.likelihood,
                "impact": self.impact,
                "tier": self.tier,
                "expires_at": self.expires_at,
                "evidence": sorted(int(e) for e in self.evidence_ids),
                "renewal_of": self.renewal_of_id,
            }
        )

    def digest(self) -> str:
        """sha256 (hex) of the RFC 8785 canonical JSON of the approvable fields."""
        return hashlib.sha256(canonical_json(self.approvable())).hexdigest()


class Approval(models.Model):
    """One decision (approve or reject) by one person, in one slot, on one version of a request."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    Slot = Slot

    request = models.ForeignKey(ExceptionRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    slot = models.CharField(max_length=30, choices=Slot.choices)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    request_version = models.PositiveIntegerField()
    request_digest = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    frozen_state = models.JSONField(default=dict, blank=True, help_text="What the approver saw.")
    reauthenticated_at = models.DateTimeField(help_text="When the approver last re-entered a password or code.")
    at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # One person never fills two slots of a chain (nor decides twice) on a live set of decisions.
            models.UniqueConstraint(
                fields=["request", "approver"],
                condition=models.Q(voided_at__isnull=True),
                name="approval_one_per_person",
                violation_error_message="This person has already decided on this request.",
            ),
            models.UniqueConstraint(
                fields=["request", "slot"],
                condition=models.Q(voided_at__isnull=True, decision="approve"),
                name="approval_one_per_slot",
                violation_error_message="This slot of the chain is already filled.",
            ),
            models.CheckConstraint(
                condition=models.Q(decision__in=["approve", "reject"]),
                name="approval_decision_valid",
                violation_error_message="Decision must be approve or reject.",
            ),
            models.CheckConstraint(
                condition=models.Q(slot__in=Slot.values),
                name="approval_slot_valid",
                violation_error_message="Unknown approval slot.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} ({self.slot}) on {self.request_id} v{self.request_version}"


class ExceptionReminder(models.Model):
    """A reminder that was sent; the unique key makes each lead time (or waiting period) remind once."""

    class Kind(models.TextChoices):
        EXPIRY = "expiry", "Expiry is near"
        WAITING = "waiting", "Waiting for approval"

    request = models.ForeignKey(ExceptionRequest, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=80, help_text="e.g. expiry:7d:2025-06-30T00:00:00Z or waiting:v2:1")
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["request", "key"],
                name="exception_reminder_once",
                violation_error_message="This reminder was already sent.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.key}"


class ExceptionMetricSnapshot(models.Model):
    """One day's exception metrics of one system, for the coverage dashboard (upserted by beat)."""

    day = models.DateField()
    system = models.ForeignKey("inventory.System", on_delete=models.CASCADE, related_name="exception_snapshots")
    pending = models.PositiveIntegerField(default=0)
    active_low = models.PositiveIntegerField(default=0)
    active_medium = models.PositiveIntegerField(default=0)
    active_high = models.PositiveIntegerField(default=0)
    active_critical = models.PositiveIntegerField(default=0)
    active_age_0_30 = models.PositiveIntegerField(default=0, help_text="Active exceptions approved 0-30 days ago.")
    active_age_31_90 = models.PositiveIntegerField(default=0)
    active_age_91_plus = models.PositiveIntegerField(default=0)
    expiring_14d = models.PositiveIntegerField(default=0)
    decided_30d = models.PositiveIntegerField(default=0, help_text="Requests decided in the last 30 days.")
    latency_median_hours = models.FloatField(null=True, help_text="Median submit-to-decision time, last 30 days.")
    latency_max_hours = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["day", "system"], name="exception_metric_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.system_id}"

    @property
    def active(self) -> int:
        return self.active_low + self.active_medium + self.active_high + self.active_critical
