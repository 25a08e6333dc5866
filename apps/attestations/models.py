"""Evidence a person provides (issue 24, item 2): documents a control requires, and attestations.

- DocumentRequirement: a control requires a kind of document (policy, training record, DPIA...)
  with an owner and a review cadence. Loaded from `requirements.toml` after every migrate (rows
  missing from the database are added; edits made in the admin are kept).
- ManualDocument: one uploaded document for one requirement and one system. Its bytes are an
  ingest Receipt (blob, ledger, parse into Evidence, retention), never a second storage path.
  It counts once approved, until `document_date + cadence` (its review date) passes.
- Attestation: the requirement's owner states, after step-up re-authentication, that the control
  operated during a period; bound to the sha256 digests of the documents it relies on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.common.states import StateMachine


class DocumentKind(models.TextChoices):
    POLICY = "policy", "Policy"
    PROCEDURE = "procedure", "Procedure"
    TRAINING_RECORD = "training-record", "Training record"
    ACCESS_REVIEW = "access-review", "Access review"
    VENDOR_ASSESSMENT = "vendor-assessment", "Vendor assessment"
    TABLETOP_EXERCISE = "tabletop-exercise", "Tabletop exercise"
    DPIA = "dpia", "Data protection impact assessment (DPIA)"
    FRIA = "fria", "Fundamental rights impact assessment (FRIA)"


class DocumentRequirement(models.Model):
    """A control requires a current, approved document of one kind for each system in its framework's scope."""

    class Origin(models.TextChoices):
        FILE = "file", "Shipped requirements file"
        ADMIN = "admin", "Added in the admin"

    control = models.ForeignKey("policy.Control", on_delete=models.CASCADE, related_name="document_requirements")
    kind = models.CharField(max_length=30, choices=DocumentKind.choices)
    cadence_days = models.PositiveIntegerField(
        default=365, help_text="A document counts for this many days after its date; then it is due for review."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_document_requirements",
        help_text="Approves documents and attests that the control operated.",
    )
    description = models.TextField(blank=True)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.ADMIN)

    class Meta:
        ordering = ["control__framework__code", "control__order", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["control", "kind"],
                name="document_requirement_unique",
                violation_error_message="This control already requires a document of that kind.",
            ),
            models.CheckConstraint(
                condition=models.Q(cadence_days__gte=1),
                name="document_requirement_cadence_positive",
                violation_error_message="A review cadence is at least one day.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.control_id}: {self.get_kind_display()} every {self.cadence_days} days"


class ManualDocument(StateMachine, models.Model):
    """One uploaded document answering one requirement for one system; its bytes are an ingest Receipt."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted, awaiting approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.SUBMITTED: frozenset({Status.APPROVED, Status.REJECTED}),
        Status.APPROVED: frozenset(),
        Status.REJECTED: frozenset(),
    }

    requirement = models.ForeignKey(DocumentRequirement, on_delete=models.PROTECT, related_name="documents")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="manual_documents")
    receipt = models.ForeignKey("ingest.Receipt", on_delete=models.PROTECT, related_name="manual_documents")
    sha256 = models.CharField(max_length=64, help_text="Digest of the stored bytes (the receipt's).")
    title = models.CharField(max_length=300)
    document_date = models.DateTimeField(
        help_text="When the document was issued or the activity happened; never later than its upload."
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUBMITTED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-document_date", "-pk"]
        indexes = [models.Index(fields=["system", "requirement", "status"], name="manual_document_lookup")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(document_date__lte=models.F("uploaded_at")),
                name="manual_document_date_not_after_upload",
                violation_error_message="A document's date cannot be later than its upload.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    def review_due(self, cadence_days: int | None = None) -> datetime:
        """The instant the document stops counting: its date plus the requirement's cadence."""
        return self.document_date + timedelta(days=cadence_days or self.requirement.cadence_days)

    def transition_refusal(self, status: str) -> str:
        return f"A {self.get_status_display().lower()} document cannot become {status}."


class Attestation(models.Model):
    """The owner's statement that a control operated on a system during a period, bound to evidence digests."""

    control = models.ForeignKey("policy.Control", on_delete=models.PROTECT, related_name="attestations")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="attestations")
    attested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    statement = models.TextField()
    documents = models.ManyToManyField(ManualDocument, related_name="attestations")
    digests = ArrayField(models.CharField(max_length=64), help_text="sha256 of each document relied on, sorted.")
    reauthenticated_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_start__lt=models.F("period_end")),
                name="attestation_period_ordered",
                violation_error_message="The period must end after it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__lte=models.F("created_at")),
                name="attestation_period_past",
                violation_error_message="An attestation speaks about a period that has ended.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.control_id} on {self.system_id}, {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"
