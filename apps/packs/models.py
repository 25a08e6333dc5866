"""Evidence packs: one row per requested pack, the user-visible record of its build.

A pack is requested for a scope (a release or deployment with its lineage, a system over
a period, a framework across systems, an audit engagement), built by a Celery worker on
the "heavy" queue into a PDF and a signed ZIP, and never changes once built (a database
trigger refuses UPDATE of a built row). Rebuilding a scope makes a new pack.

PackChunk rows let several heavy workers render the PDF's sections at once: the build
that owns the pack (its `build_token`) writes one HTML file per chunk and one row per
chunk; any heavy worker, the owner included, claims a queued chunk with a conditional
UPDATE, renders it, and marks it done.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse

from apps.common.states import StateMachine


class PackStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    BUILT = "built", "Built"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PackStage(models.TextChoices):
    WAITING = "", "Waiting for a worker"
    COLLECTING = "collecting", "Collecting evidence"
    RENDERING = "rendering", "Rendering the PDF"
    SIGNING = "signing", "Signing the bundle"
    DONE = "done", "Done"


class ScopeKind(models.TextChoices):
    ARTIFACT = "artifact", "Release or deployment"
    SYSTEM = "system", "System over a period"
    FRAMEWORK = "framework", "Framework across systems"
    ENGAGEMENT = "engagement", "Audit engagement"


class Pack(StateMachine, models.Model):
    """One evidence pack: its scope, who asked, and how its build went (status, stage, attempts, file)."""

    Status = PackStatus
    Stage = PackStage
    ScopeKind = ScopeKind

    # status -> statuses it may move to. BUILDING -> QUEUED: the sweep found a build whose
    # worker died (lease expired) and queued it again. Built, failed and cancelled are final.
    TRANSITIONS: dict[str, frozenset[str]] = {
        PackStatus.QUEUED: frozenset({PackStatus.BUILDING, PackStatus.CANCELLED, PackStatus.FAILED}),
        PackStatus.BUILDING: frozenset(
            {PackStatus.BUILT, PackStatus.FAILED, PackStatus.CANCELLED, PackStatus.QUEUED, PackStatus.BUILDING}
        ),
        PackStatus.BUILT: frozenset(),
        PackStatus.FAILED: frozenset(),
        PackStatus.CANCELLED: frozenset(),
    }
    ACTIVE = (PackStatus.QUEUED, PackStatus.BUILDING)

    scope_kind = models.CharField(max_length=20, choices=ScopeKind.choices)
    scope = models.JSONField(help_text="The scope's parameters as requested, normalized (ids, slugs, ISO times).")
    scope_label = models.CharField(max_length=300)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="packs")
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=PackStatus.choices, default=PackStatus.QUEUED)
    status_since = models.DateTimeField()
    stage = models.CharField(max_length=12, choices=PackStage.choices, default=PackStage.WAITING, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done, for the progress bar.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker claimed the build.")
    build_token = models.CharField(max_length=32, blank=True, help_text="The current build attempt's id.")
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="The building worker renews this while alive; past it, the build is orphaned."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    file = models.CharField(max_length=300, blank=True, help_text="The ZIP, relative to PORTAL_PACK_ROOT.")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    evidence_count = models.PositiveIntegerField(null=True, blank=True)
    checkpoint_size = models.BigIntegerField(null=True, blank=True, help_text="Ledger size the pack's proofs use.")
    system_ids = ArrayField(
        models.BigIntegerField(),
        default=list,
        blank=True,
        help_text="Systems whose data the pack holds (downloads check them).",
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=PackStatus.values),
                name="pack_status_valid",
                violation_error_message="Unknown pack status.",
            ),
            models.CheckConstraint(
                condition=models.Q(scope_kind__in=ScopeKind.values),
                name="pack_scope_kind_valid",
                violation_error_message="Unknown pack scope.",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__lte=100),
                name="pack_progress_percent",
                violation_error_message="Progress is a percentage.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="built") | (~models.Q(sha256="") & ~models.Q(file="")),
                name="pack_built_has_file",
                violation_error_message="A built pack names its file and sha256.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="failed") | ~models.Q(error=""),
                name="pack_failed_has_reason",
                violation_error_message="A failed pack says why.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "lease_until"], name="pack_status_lease"),
            models.Index(fields=["requester", "-requested_at"], name="pack_requester"),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return reverse("packs:detail", kwargs={"pk": self.pk})

    @property
    def reference(self) -> str:
        return f"PK-{self.pk:06d}" if self.pk else "PK-new"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def finished_at(self):
        """When the pack reached its final status (built, failed or cancelled); None while it is active."""
        return None if self.is_active else self.status_since



class PackChunk(models.Model):
    """One slice of a pack's PDF sections for one build attempt, rendered by whichever heavy worker claims it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        DONE = "done", "Done"

    pack = models.ForeignKey(Pack, on_delete=models.CASCADE, related_name="chunks")
    build_token = models.CharField(max_length=32)
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    lease_until = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    anchors = models.JSONField(default=dict, blank=True, help_text="Section anchor -> page index within the chunk.")
    rendered_by = models.CharField(max_length=200, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["pack", "build_token", "index"]
        constraints = [
            models.UniqueConstraint(fields=["pack", "build_token", "index"], name="pack_chunk_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pack_id}/{self.index} ({self.status})"
