"""What evidence says and what it is about.

Artifacts are the things evidence speaks about (a commit, an image, a package...), one
row per normalized identity (`uri`). Evidence rows are written once by
`evidence_record()` and never updated or deleted: a correction is new evidence. Large
per-item detail (test cases, scan results, SBOM components) lives in EvidenceRecord
rows written with COPY.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Left, Length, Reverse, StrIndex
from django.urls import reverse


class ArtifactKind(models.TextChoices):
    COMMIT = "commit", "Commit"
    IMAGE = "image", "Container image"
    PACKAGE = "package", "Package"
    MODEL_VERSION = "model-version", "Model version"
    DATASET = "dataset", "Dataset"
    RUN = "run", "Run"  # a training or pipeline run (MLflow, OpenLineage)
    JOB = "job", "Job"  # the job a run is an instance of (OpenLineage)
    RELEASE = "release", "Release"
    DEPLOYMENT = "deployment", "Deployment"
    FILE = "file", "File"
    OTHER = "other", "Other"


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    INFO = "info", "Info"


class EffectiveBasis(models.TextChoices):
    CONTENT = "content", "from the content"
    UPLOAD = "upload", "given at upload"
    RECEIVED = "received", "time of receipt (the content carries no date)"


class Artifact(models.Model):
    """A thing evidence is about, identified by its normalized URI (digest, purl, repo@sha...)."""

    Kind = ArtifactKind

    kind = models.CharField(max_length=20, choices=ArtifactKind.choices)
    uri = models.TextField(unique=True)
    digest = models.CharField(max_length=140, blank=True)
    name = models.CharField(max_length=300, blank=True)
    system = models.ForeignKey(
        "inventory.System",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artifacts",
        help_text="The system of the first evidence that named it.",
    )
    first_seen = models.DateTimeField()
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When evidence said it stopped existing (a manifest deleted from its registry); null: exists.",
    )

    class Meta:
        ordering = ["uri"]
        indexes = [
            models.Index(fields=["kind"], name="artifact_kind"),
            # A deployment's slot (apps.evidence.services.deployment_slot: the uri up to its last "/"):
            # what a new deployment looks up to end the one running in the same place.
            models.Index(
                Left("uri", Length("uri") - StrIndex(Reverse("uri"), models.Value("/"))),
                name="artifact_deployment_slot",
                condition=models.Q(kind="deployment"),
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.uri

    def get_absolute_url(self) -> str:
        return reverse("evidence:artifact", kwargs={"pk": self.pk})


class Evidence(models.Model):
    """One piece of evidence parsed from a receipt: what it says, its verdict and its two times."""

    Verdict = Verdict

    receipt = models.ForeignKey("ingest.Receipt", on_delete=models.PROTECT, related_name="evidence")
    # A re-parse writes a new generation (the receipt's attempt number); older ones stay, superseded.
    generation = models.PositiveIntegerField(default=1)
    ordinal = models.PositiveIntegerField(default=0, help_text="Position within the receipt (JSON Lines give several).")
    source = models.ForeignKey("ingest.Source", on_delete=models.PROTECT, related_name="evidence")
    system = models.ForeignKey(
        "inventory.System", null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    subject = models.ForeignKey(
        Artifact,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="primary_evidence",
        help_text="What the evidence is mainly about.",
    )
    kind = models.CharField(max_length=40, help_text="test-report, sast-scan, sbom, provenance, pipeline-run...")
    format = models.CharField(max_length=40, help_text="The parser that read it: junit, sarif, github...")
    title = models.CharField(max_length=500)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    verdict_reason = models.TextField(blank=True)
    summary = models.JSONField(default=dict)
    received_at = models.DateTimeField()
    effective_at = models.DateTimeField(help_text="The time the evidence speaks about; audit windows use it.")
    effective_basis = models.CharField(max_length=10, choices=EffectiveBasis.choices)
    sha256 = models.CharField(max_length=64, help_text="sha256 of the raw body it was parsed from.")
    artifacts = models.ManyToManyField(Artifact, through="EvidenceSubject", related_name="evidence")

    class Meta:
        ordering = ["-effective_at", "-id"]
        verbose_name_plural = "evidence"
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "generation", "ordinal"],
                name="evidence_unique_per_receipt_parse",
                violation_error_message="This receipt already has evidence at this position.",
            ),
            models.CheckConstraint(
                condition=models.Q(verdict__in=Verdict.values),
                name="evidence_verdict_valid",
                violation_error_message="Verdict must be pass, fail or info.",
            ),
        ]
        indexes = [
            # The browser: newest first, optionally narrowed by system, kind, verdict or source.
            models.Index(fields=["-effective_at", "-id"], name="evidence_effective"),
            models.Index(fields=["system", "-effective_at"], name="evidence_system_effective"),
            models.Index(fields=["kind", "-effective_at"], name="evidence_kind_effective"),
            models.Index(fields=["verdict", "-effective_at"], name="evidence_verdict_effective"),
            models.Index(fields=["source", "-effective_at"], name="evidence_source_effective"),
            models.Index(fields=["subject", "-effective_at"], name="evidence_subject_effective"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("evidence:detail", kwargs={"pk": self.pk})


class EvidenceSubject(models.Model):
    """Every artifact a piece of evidence is about (the primary one included)."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Primary subject"
        SUBJECT = "subject", "Also about"

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="subject_links")
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="evidence_links")
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["evidence", "artifact"], name="evidence_subject_unique"),
        ]
        indexes = [models.Index(fields=["artifact", "evidence"], name="evidence_subject_artifact")]

    def __str__(self) -> str:
        return f"{self.evidence_id} {self.role} {self.artifact_id}"


class LineageEdge(models.Model):
    """`target` came from `source` (built-from, depends-on, deployed-from...), as first stated by `evidence`.

    A deployment edge (into a deployment: deployed-as, promoted-to) has a period: it runs from
    `valid_from` until `valid_to`, which the next deployment to the same place, or an end the
    evidence states, sets once (`ended_by`); the database allows no other change. Every other edge
    has no period (both null): it holds whenever asked. A deployment that runs again later (an alias
    moved back) gets a new edge with its own `valid_from`."""

    source = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="downstream_edges")
    target = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="upstream_edges")
    relation = models.CharField(max_length=40)
    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="edges")
    created_at = models.DateTimeField()
    valid_from = models.DateTimeField(null=True, blank=True, help_text="A deployment edge: when it started running.")
    valid_to = models.DateTimeField(null=True, blank=True, help_text="A deployment edge: when it stopped (null: runs).")
    ended_by = models.ForeignKey(
        Evidence,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ended_edges",
        help_text="The evidence that ended this deployment edge.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "relation", "valid_from"],
                name="lineage_edge_unique_period",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | (models.Q(valid_from__isnull=False) & models.Q(valid_to__gte=models.F("valid_from"))),
                name="lineage_edge_period_valid",
                violation_error_message="A lineage edge ends after it starts, and only an edge with a start ends.",
            ),
        ]
        indexes = [
            models.Index(fields=["target", "relation"], name="lineage_edge_target"),
            # Running deployment edges: what a new deployment to the same place ends.
            models.Index(
                fields=["target"],
                name="lineage_edge_running",
                condition=models.Q(valid_from__isnull=False, valid_to__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target_id} {self.relation} {self.source_id}"


class EvidenceRecord(models.Model):
    """One row of a piece of evidence's detail: a test case, a scan result, an SBOM component."""

    # Checked once per statement, not per row (migration 0010: a parse COPYs tens of thousands of rows
    # of one evidence, and a foreign key would query for each); indexed by evidence_record_unique.
    evidence = models.ForeignKey(
        Evidence, on_delete=models.PROTECT, related_name="records", db_constraint=False, db_index=False
    )
    ordinal = models.PositiveIntegerField()
    data = models.JSONField()

    class Meta:
        ordering = ["evidence", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["evidence", "ordinal"], name="evidence_record_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.evidence_id}#{self.ordinal}"
