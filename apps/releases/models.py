"""Release sign-off: a classified release and the people who signed it off.

- ReleaseSignoff: one artifact (release, deployment, model version, image) going to an
  environment, its change class, the identities of its authors (from the evidence), the
  artifact digest and evidence set it was classified with. `digest()` is the sha256 of the
  canonical JSON of what an approver approves; `version` grows with every reclassification,
  which voids earlier decisions. Status moves along TRANSITIONS, one service per move.
- SignoffDecision: one person's approve/reject, in one slot of the chain, bound to one
  version and digest, with the time they re-authenticated and what they saw.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse

from apps.approvals.slots import Slot
from apps.common.states import StateMachine
from apps.evidence.models import Evidence
from apps.ledger.canonical import canonical_json, to_jsonable


class ReleaseSignoff(StateMachine, models.Model):
    """A release classified for sign-off: approved once its chain is complete for its exact digest."""

    class Status(models.TextChoices):
        NOT_REQUIRED = "not_required", "No sign-off needed"
        PENDING = "pending", "Waiting for sign-off"
        APPROVED = "approved", "Signed off"
        REJECTED = "rejected", "Rejected"

    class ClassSource(models.TextChoices):
        CI = "ci", "CI metadata"
        OWNER = "owner", "Set by an owner"

    # PENDING -> PENDING and APPROVED/REJECTED -> PENDING: reclassified (a new version). A decided
    # sign-off never becomes NOT_REQUIRED: a decision is only ever replaced by a new sign-off.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.NOT_REQUIRED: frozenset({Status.PENDING, Status.NOT_REQUIRED}),
        Status.PENDING: frozenset({Status.PENDING, Status.APPROVED, Status.REJECTED, Status.NOT_REQUIRED}),
        Status.APPROVED: frozenset({Status.PENDING}),
        Status.REJECTED: frozenset({Status.PENDING}),
    }

    artifact = models.ForeignKey("evidence.Artifact", on_delete=models.PROTECT, related_name="signoffs")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="release_signoffs")
    environment = models.CharField(max_length=20, default="prod")
    change_class = models.CharField(max_length=40)
    class_source = models.CharField(max_length=10, choices=ClassSource.choices)
    ci_change_class = models.CharField(
        max_length=40,
        blank=True,
        help_text="The most demanding class CI metadata has claimed for this release (empty: none). CI only "
        "raises the class above this claim, so it cannot undo a compliance officer's reasoned downgrade.",
    )
    artifact_digest = models.CharField(max_length=140, help_text="The digest of the exact artifact classified.")
    evidence_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    authors = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        help_text="Who made the change, as the evidence names them (logins, e-mail addresses): never sign-off.",
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    version = models.PositiveIntegerField(default=1)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The owner who classified it in the portal (empty: CI metadata).",
    )
    requested_at = models.DateTimeField(help_text="When the current version asked for sign-off.")
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    approved_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["artifact", "environment"],
                name="signoff_one_per_artifact_environment",
                violation_error_message="This artifact already has a sign-off for that environment.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["not_required", "pending", "approved", "rejected"]),
                name="signoff_status_valid",
                violation_error_message="Unknown sign-off status.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="approved") | ~models.Q(approved_digest=""),
                name="signoff_approved_has_digest",
                violation_error_message="An approved sign-off records the digest it approved.",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="signoff_status_requested")]

    def __str__(self) -> str:
        return self.reference


    def get_absolute_url(self) -> str:
        return reverse("releases:detail", kwargs={"pk": self.pk})


    @property
    def reference(self) -> str:
        return f"REL-{self.pk}"

    def approvable(self) -> dict:
        """What a decision binds to: the exact artifact, its digest, the evidence set, the class."""
        evidence = Evidence.objects.filter(pk__in=self.evidence_ids).order_by("pk").values_list("pk", "sha256")
        return to_jsonable(
            {
                "id": self.pk,
                "version": self.version,
                "artifact": self.artifact.uri,
                "artifact_digest": self.artifact_digest,
                "system": self.system.slug,
                "environment": self.environment,
                "change_class": self.change_class,
                "evidence": [[pk, sha] for pk, sha in evidence],
            }
        )

    def digest(self) -> str:
        """sha256 (hex) of the RFC 8785 canonical JSON of approvable()."""
        return hashlib.sha256(canonical_json(self.approvable())).hexdigest()


class SignoffDecision(models.Model):
    """One person's decision on one version of a release sign-off, in one slot of its chain."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    signoff = models.ForeignKey(ReleaseSignoff, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    slot = models.CharField(max_length=30, choices=Slot.choices)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    signoff_version = models.PositiveIntegerField()
    signoff_digest = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    frozen_state = models.JSONField(default=dict, blank=True, help_text="The evidence summary the approver saw.")
    reauthenticated_at = models.DateTimeField()
    at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["signoff", "approver"],
                condition=models.Q(voided_at__isnull=True),
                name="signoff_decision_one_per_person",
                violation_error_message="This person has already decided on this release.",
            ),
            models.CheckConstraint(
                condition=models.Q(decision__in=["approve", "reject"]),
                name="signoff_decision_valid",
                violation_error_message="Decision must be approve or reject.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.approver_id} on {self.signoff_id} v{self.signoff_version}"
