"""Retention, legal holds and data minimisation.

- DataPolicy: a system's choice of redaction rules (retention_policy.toml defines them).
- ReceiptRedaction: what redaction did to a receipt's body before it was stored; keeps the
  sha256 of the original body (the one the signature covered) next to the stored one.
- IdentifierFlag: the direct identifiers found in the raw body a piece of evidence came from.
- LegalHold: a compliance officer's hold on a system, a period or a set of evidence; while
  active, nothing it covers is disposed of. Its status moves along TRANSITIONS.
- Disposal: the raw body of one receipt was disposed of on schedule. Append-only (migration
  0002 refuses UPDATE and DELETE); the Evidence rows, their sha256 and the ledger stay.

Evidence is immutable, so "disposed" and "held" live here, in their own rows, never on it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse

from apps.common.states import StateMachine


class DataPolicy(models.Model):
    """Which redaction rules run on a system's incoming webhook bodies before they are stored."""

    system = models.OneToOneField("inventory.System", on_delete=models.CASCADE, related_name="data_policy")
    redaction_rules = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "data policies"

    def __str__(self) -> str:
        return f"data policy of {self.system_id}: {', '.join(self.redaction_rules) or 'no redaction'}"


class ReceiptRedaction(models.Model):
    """Redaction applied to one receipt's body before storage: the rules, both digests, what was redacted."""

    receipt = models.OneToOneField("ingest.Receipt", on_delete=models.PROTECT, related_name="redaction")
    rules = ArrayField(models.CharField(max_length=60))
    original_sha256 = models.CharField(max_length=64, help_text="sha256 of the body as received (signed).")
    stored_sha256 = models.CharField(max_length=64, help_text="sha256 of the body as stored (the receipt's sha256).")
    redacted_count = models.PositiveIntegerField(default=0)
    paths = models.JSONField(default=list, help_text="JSON paths of the redacted values (the first 200).")
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"redaction of receipt {self.receipt_id}: {self.redacted_count} value(s)"


class IdentifierFlag(models.Model):
    """Direct identifiers (e-mail, phone, national id patterns) counted in evidence's raw body at parse time."""

    evidence = models.OneToOneField("evidence.Evidence", on_delete=models.PROTECT, related_name="identifier_flag")
    counts = models.JSONField(help_text="{pattern name: matches}; the matches themselves are never stored.")
    total = models.PositiveIntegerField()
    detected_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-detected_at"], name="identifier_flag_detected")]

    def __str__(self) -> str:
        return f"{self.evidence_id}: {self.counts}"


class LegalHold(StateMachine, models.Model):
    """A hold on a system, a period (optionally of one system) or a set of evidence: blocks disposal."""

    class Scope(models.TextChoices):
        SYSTEM = "system", "A system"
        PERIOD = "period", "A period"
        EVIDENCE = "evidence", "A set of evidence"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"

    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.ACTIVE: frozenset({Status.RELEASED}),
        Status.RELEASED: frozenset(),
    }

    scope = models.CharField(max_length=10, choices=Scope.choices)
    system = models.ForeignKey(
        "inventory.System",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="legal_holds",
        help_text="The system held (scope system), or narrowing a period hold to one system.",
    )
    period_start = models.DateTimeField(null=True, blank=True, help_text="Evidence effective from (inclusive).")
    period_end = models.DateTimeField(null=True, blank=True, help_text="Evidence effective until (exclusive).")
    evidence_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["system", "period", "evidence"]),
                name="legal_hold_scope_valid",
                violation_error_message="Scope must be system, period or evidence.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "released"]),
                name="legal_hold_status_valid",
                violation_error_message="Status must be active or released.",
            ),
            models.CheckConstraint(
                condition=~models.Q(scope="system") | models.Q(system__isnull=False),
                name="legal_hold_system_named",
                violation_error_message="A hold on a system names the system.",
            ),
            models.CheckConstraint(
                condition=~models.Q(scope="period")
                | models.Q(
                    period_start__isnull=False, period_end__isnull=False, period_start__lt=models.F("period_end")
                ),
                name="legal_hold_period_valid",
                violation_error_message="A hold on a period needs a start before its end.",
            ),
            models.CheckConstraint(
                condition=~models.Q(scope="evidence") | models.Q(evidence_ids__len__gt=0),
                name="legal_hold_evidence_named",
                violation_error_message="A hold on a set of evidence names at least one piece of evidence.",
            ),
            models.CheckConstraint(
                condition=models.Q(status="active")
                | models.Q(released_at__isnull=False, released_by__isnull=False) & ~models.Q(release_reason=""),
                name="legal_hold_release_recorded",
                violation_error_message="A released hold records who released it, when and why.",
            ),
            models.CheckConstraint(
                condition=~models.Q(reason=""),
                name="legal_hold_has_reason",
                violation_error_message="A legal hold needs a reason.",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="legal_hold_status")]

    def __str__(self) -> str:
        return self.reference


    def get_absolute_url(self) -> str:
        return reverse("retention:hold", kwargs={"pk": self.pk})


    @property
    def reference(self) -> str:
        return f"LH-{self.pk}"

    def describe(self) -> str:
        """One line saying what the hold covers."""
        if self.scope == self.Scope.SYSTEM:
            return f"all evidence of {self.system.name}"
        if self.scope == self.Scope.PERIOD:
            where = f" of {self.system.name}" if self.system_id else ""
            return f"evidence{where} effective {self.period_start:%Y-%m-%d} to {self.period_end:%Y-%m-%d}"
        n = len(self.evidence_ids)
        return f"{n} piece{'s' if n != 1 else ''} of evidence"


class Disposal(models.Model):
    """The raw body (and parsed detail rows) of one receipt, disposed of on schedule. Append-only."""

    receipt = models.OneToOneField("ingest.Receipt", on_delete=models.PROTECT, related_name="disposal")
    system = models.ForeignKey("inventory.System", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    kept_until = models.DateTimeField()
    schedule = models.CharField(max_length=80, help_text="The retention schedule that set kept_until.")
    policy_digest = models.CharField(max_length=64, help_text="sha256 of the retention policy file in force.")
    evidence_ids = ArrayField(models.BigIntegerField(), default=list)
    records_deleted = models.PositiveIntegerField(default=0)
    blob_deleted = models.BooleanField(
        help_text="True when no other receipt still needed the content-addressed blob, so it was deleted."
    )
    disposed_at = models.DateTimeField()

    class Meta:
        ordering = ["-disposed_at", "-id"]
        indexes = [
            models.Index(fields=["sha256"], name="disposal_sha256"),
            models.Index(fields=["system", "-disposed_at"], name="disposal_system"),
        ]

    def __str__(self) -> str:
        return f"disposal of receipt {self.receipt_id} at {self.disposed_at:%Y-%m-%d}"
