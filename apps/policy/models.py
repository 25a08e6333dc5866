"""Frameworks, controls, rules as versioned data, their results, the results' history and rollups.

- Framework and Control are loaded from OSCAL catalogs (`load_catalogs`, run after every
  migrate; `import_catalog` for a programme's own framework).
- Rule is a stable key; RuleVersion is one immutable wording of it (expression, selector,
  severity, mode). Editing a rule adds a version; every result names the version that
  produced it.
- ControlResult is the current result of one rule for one control on one subject: an
  artifact (release, deployment, image, commit, model version) or, for rules without
  `artifact_kinds`, the system as a whole (artifact NULL). It changes only through
  `policy_evaluate()`, and every change appends a ControlResultChange row (database
  triggers refuse UPDATE and DELETE on those) and a ledger entry, in one transaction.
- CoverageSnapshot and SystemMetricSnapshot are the daily rollups the dashboard reads,
  kept by a beat task; no page aggregates results or evidence per request.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse
from django.utils import timezone

from apps.policy.oscal import REF_SEPARATOR, control_ref


class ResultStatus(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    MISSING = "missing", "Missing evidence"
    EXCEPTED = "excepted", "Excepted"
    NOT_APPLICABLE = "not-applicable", "Not applicable"


# Worst first: a control's status on a subject is the worst of its rules' results.
STATUS_ORDER = {
    ResultStatus.FAIL: 0,
    ResultStatus.MISSING: 1,
    ResultStatus.EXCEPTED: 2,
    ResultStatus.PASS: 3,
    ResultStatus.NOT_APPLICABLE: 4,
}


def worst_status(statuses) -> str:
    """The worst of several statuses (not-applicable when there are none)."""
    return min(statuses, key=lambda s: STATUS_ORDER[s], default=ResultStatus.NOT_APPLICABLE)


class Framework(models.Model):
    """A compliance framework as loaded from an OSCAL catalog (shipped or imported)."""

    class Origin(models.TextChoices):
        SHIPPED = "shipped", "Shipped with the portal"
        IMPORTED = "imported", "Imported"

    code = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=300)
    version = models.CharField(max_length=100)
    oscal_version = models.CharField(max_length=20)
    catalog_uuid = models.UUIDField()
    last_modified = models.CharField(max_length=40)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.SHIPPED)
    loaded_at = models.DateTimeField()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("policy:control_list") + f"?framework={self.code}"


class ControlQuerySet(models.QuerySet):
    def for_ref(self, ref: str) -> ControlQuerySet:
        """The controls a reference names: one for "<code>:<id>", every framework's for a bare id."""
        code, sep, control_id = str(ref).partition(REF_SEPARATOR)
        if sep:
            return self.filter(framework__code=code, control_id=control_id)
        return self.filter(control_id=ref)

    def for_refs(self, refs) -> ControlQuerySet:
        condition = models.Q(pk__in=[])
        for ref in refs:
            code, sep, control_id = str(ref).partition(REF_SEPARATOR)
            condition |= models.Q(framework__code=code, control_id=control_id) if sep else models.Q(control_id=ref)
        return self.filter(condition)


class Control(models.Model):
    """One control of a framework; `control_id` is its OSCAL id, unique within the framework.

    Frameworks may reuse each other's ids (every NIST SP 800-53 baseline has "ac-1"). Rules name
    a control by reference: a bare id names it in every framework that has it, "<framework
    code>:<id>" names one framework's (`Control.ref`). Pages: see `selectors.control_get`."""

    class Assessment(models.TextChoices):
        """How a control is assessed: by rules over pipeline evidence, by documents a person provides, both,
        or not at all (then coverage counts it as not assessed, never as passing)."""

        AUTOMATED = "automated", "Automated (rules)"
        MANUAL = "manual", "Manual (documents or attestations)"
        BOTH = "both", "Automated and manual"
        NONE = "none", "Neither: not assessed"

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="controls")
    control_id = models.CharField(max_length=100)
    label = models.CharField(max_length=100, help_text='The reference people cite, e.g. "164.312(a)(1)".')
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    group_title = models.CharField(max_length=300, blank=True)
    order = models.PositiveIntegerField()
    depth = models.PositiveSmallIntegerField(default=0)

    objects = ControlQuerySet.as_manager()

    class Meta:
        ordering = ["framework__code", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["framework", "control_id"],
                name="control_id_unique_per_framework",
                violation_error_message="This framework already has a control with that id.",
            ),
        ]
        indexes = [
            models.Index(fields=["framework", "order"], name="control_framework_order"),
            models.Index(fields=["control_id"], name="control_control_id"),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.title}"

    def get_absolute_url(self) -> str:
        # A shipped control keeps its bare-id URL (shipped ids carry their framework's prefix and
        # `control_get` prefers the shipped control); an imported one is always qualified.
        shipped = self.framework.origin == Framework.Origin.SHIPPED
        return reverse("policy:control_detail", kwargs={"control_id": self.control_id if shipped else self.ref})

    @property
    def ref(self) -> str:
        """The qualified reference "<framework code>:<control id>": one control whatever else is loaded."""
        return control_ref(self.framework.code, self.control_id)

    @property
    def refs(self) -> list[str]:
        """Every reference a rule may name this control by (for `RuleVersion.controls__overlap`)."""
        return [self.control_id, self.ref]


class Rule(models.Model):
    """A rule's stable identity; what it says lives in its versions."""

    class Origin(models.TextChoices):
        DEFAULT = "default", "Default rule set"
        USER = "user", "Written in the portal"

    key = models.SlugField(max_length=80, unique=True)
    current = models.OneToOneField(
        "RuleVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="current_of"
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.DEFAULT)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def get_absolute_url(self) -> str:
        return reverse("policy:rule_detail", kwargs={"key": self.key})


class RuleVersion(models.Model):
    """One immutable version of a rule: what was evaluated when a result names it."""

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Mode(models.TextChoices):
        GATE = "gate", "Hard gate (blocks a release)"
        WARN = "warn", "Warning"

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    controls = ArrayField(models.CharField(max_length=100))
    requires = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    expression = models.TextField()
    selector = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    fingerprint = models.CharField(max_length=64)
    message = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Plain-language failure message with {fact.path} placeholders, filled in per result.",
    )
    note = models.CharField(max_length=500, blank=True, help_text="Why it changed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "version"],
                name="rule_version_unique",
                violation_error_message="This rule already has that version.",
            ),
            models.CheckConstraint(
                condition=models.Q(severity__in=["low", "medium", "high", "critical"]),
                name="rule_version_severity_valid",
                violation_error_message="Severity must be low, medium, high or critical.",
            ),
            models.CheckConstraint(
                condition=models.Q(mode__in=["gate", "warn"]),
                name="rule_version_mode_valid",
                violation_error_message="Mode must be gate or warn.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule.key} v{self.version}"

    def as_rule_dict(self) -> dict:
        """The rule as rulesets.rule_from_dict() takes it."""
        return {
            "key": self.rule.key,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "controls": list(self.controls),
            "requires": list(self.requires),
            "expression": self.expression,
            "selector": dict(self.selector or {}),
            "severity": self.severity,
            "mode": self.mode,
            "message": self.message,
        }

    @property
    def is_system_scope(self) -> bool:
        """Rules without artifact_kinds judge the system as a whole, not each artifact."""
        return not (self.selector or {}).get("artifact_kinds")


class SystemPolicy(models.Model):
    """Per-system settings the rules read as facts (system.allowed_regions, system.log_retention_days)."""

    system = models.OneToOneField("inventory.System", on_delete=models.CASCADE, related_name="policy_settings")
    allowed_regions = ArrayField(
        models.CharField(max_length=40),
        default=list,
        blank=True,
        help_text="Cloud regions resources may live in; empty means the regions of the system's environments.",
    )
    log_retention_days = models.PositiveIntegerField(default=365)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "system policies"

    def __str__(self) -> str:
        return f"policy settings of {self.system_id}"


class ControlResult(models.Model):
    """The current result of one rule for one control on one subject (artifact, or the system)."""

    Status = ResultStatus

    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="results")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="results")
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="results")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="control_results")
    artifact = models.ForeignKey(
        "evidence.Artifact", null=True, blank=True, on_delete=models.PROTECT, related_name="control_results"
    )
    status = models.CharField(max_length=20, choices=ResultStatus.choices)
    reason = models.TextField()
    message = models.TextField(
        blank=True,
        default="",
        help_text="What a person reads: the rule's failure message with the facts filled in (empty for a pass).",
    )
    evidence_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    exception_id = models.BigIntegerField(null=True, blank=True, help_text="The exception that covers it.")
    evaluated_at = models.DateTimeField(
        help_text="When the evaluation that produced this result ran (an unchanged result is not rewritten)."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["control", "rule", "system", "artifact"],
                nulls_distinct=False,
                name="control_result_unique",
                violation_error_message="There is already a result for this control, rule and subject.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ResultStatus.values),
                name="control_result_status_valid",
                violation_error_message="Status must be pass, fail, missing, excepted or not-applicable.",
            ),
        ]
        indexes = [
            models.Index(fields=["artifact", "control"], name="control_result_artifact"),
            models.Index(fields=["system", "status"], name="control_result_system"),
            models.Index(fields=["control", "status"], name="control_result_control"),
            models.Index(fields=["rule"], name="control_result_rule"),
        ]

    def __str__(self) -> str:
        """How people cite it, e.g. "soc2 CC7.1 on payments: fail" (select_related control__framework and
        system when naming many)."""
        control = self.control
        return f"{control.framework.code} {control.label or control.control_id} on {self.system.slug}: {self.status}"

    def get_absolute_url(self) -> str:
        """A result is read on its control's page (with the other systems' results)."""
        return self.control.get_absolute_url()


class ControlResultChange(models.Model):
    """One change of a result, append-only (migration 0002 refuses UPDATE and DELETE)."""

    Status = ResultStatus

    result = models.ForeignKey(ControlResult, on_delete=models.PROTECT, related_name="changes")
    control = models.ForeignKey(Control, on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="+")
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="+")
    system = models.ForeignKey("inventory.System", on_delete=models.PROTECT, related_name="+")
    artifact = models.ForeignKey("evidence.Artifact", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=ResultStatus.choices)
    previous_status = models.CharField(max_length=20, blank=True)
    reason = models.TextField()
    message = models.TextField(blank=True, default="")
    evidence_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    exception_id = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["result", "-changed_at"], name="result_change_result"),
            models.Index(fields=["system", "changed_at"], name="result_change_system"),
            models.Index(fields=["control", "changed_at"], name="result_change_control"),
            models.Index(fields=["artifact", "changed_at"], name="result_change_artifact"),
        ]

    def __str__(self) -> str:
        return f"{self.result_id}: {self.previous_status or '-'} -> {self.status} at {self.changed_at:%Y-%m-%d %H:%M}"


class EvaluatedSubject(models.Model):
    """What the last evaluation learnt about an artifact it judged (derived state, rewritten freely).

    The system page's matrix lists the most recent of these; the daily metrics count
    production deployments with a complete provenance chain from them."""

    artifact = models.OneToOneField("evidence.Artifact", on_delete=models.CASCADE, related_name="policy_subject")
    system = models.ForeignKey("inventory.System", on_delete=models.CASCADE, related_name="policy_subjects")
    kind = models.CharField(max_length=20)
    environment = models.CharField(max_length=20, blank=True)
    provenance_complete = models.BooleanField(default=False)
    worst_status = models.CharField(max_length=20, choices=ResultStatus.choices)
    gate_blocked = models.BooleanField(default=False)
    first_seen = models.DateTimeField()
    evaluated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["system", "kind", "-first_seen"], name="evaluated_subject_recent")]

    def __str__(self) -> str:
        return f"{self.artifact_id} ({self.kind})"


class PendingEvaluation(models.Model):
    """A request to evaluate what new evidence is about: an artifact (with what is downstream of it
    and its system's system-scope rules) or, for evidence about no artifact, a system.

    Written in the transaction that records the evidence, so it commits or rolls back with it;
    deleted by the evaluation that covers it (`policy_evaluate_pending()`), in that evaluation's
    transaction. Under a burst of receipts one evaluation takes many requests at once."""

    artifact = models.ForeignKey(
        "evidence.Artifact", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    system = models.ForeignKey(
        "inventory.System", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    requested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(artifact__isnull=False) | models.Q(system__isnull=False),
                name="pending_evaluation_names_a_subject",
                violation_error_message="A pending evaluation names an artifact or a system.",
            ),
        ]

    def __str__(self) -> str:
        return f"evaluate artifact {self.artifact_id}" if self.artifact_id else f"evaluate system {self.system_id}"


class CoverageSnapshot(models.Model):
    """One day's control coverage of one framework on one system (state at the end of that day)."""

    day = models.DateField()
    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="snapshots")
    system = models.ForeignKey("inventory.System", on_delete=models.CASCADE, related_name="coverage_snapshots")
    controls_total = models.PositiveIntegerField()
    applicable = models.PositiveIntegerField()
    passing = models.PositiveIntegerField()
    failing = models.PositiveIntegerField()
    missing = models.PositiveIntegerField()
    excepted = models.PositiveIntegerField()
    not_assessed = models.PositiveIntegerField(
        default=0, help_text="Controls with no applicable result (controls_total - applicable); never passing."
    )
    automated = models.PositiveIntegerField(default=0, help_text="Controls that a current rule is mapped to.")
    manual = models.PositiveIntegerField(
        default=0, help_text="Controls that documents or attestations assess (with automated: both)."
    )
    unmapped = models.PositiveIntegerField(
        null=True, help_text="Controls with neither rules nor manual evidence (null: not recorded before 0007)."
    )
    coverage = models.FloatField(
        null=True, help_text="Share of all the framework's controls passing or excepted, 0 to 1 (not of applicable)."
    )
    # control id -> the control's worst status on the system that day (top failing controls, at-risk lists)
    control_status = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "framework", "system"], name="coverage_snapshot_unique"),
        ]
        indexes = [models.Index(fields=["system", "day"], name="coverage_snapshot_system")]

    def __str__(self) -> str:
        return f"{self.day} {self.framework_id}/{self.system_id}: {self.coverage}"


class SystemMetricSnapshot(models.Model):
    """One day's programme metrics of one system: provenance, freshness, failure rate."""

    day = models.DateField()
    system = models.ForeignKey("inventory.System", on_delete=models.CASCADE, related_name="metric_snapshots")
    prod_deployments = models.PositiveIntegerField(default=0)
    prod_deployments_with_provenance = models.PositiveIntegerField(default=0)
    evidence_kinds = models.PositiveIntegerField(default=0)
    evidence_kinds_fresh = models.PositiveIntegerField(default=0, help_text="Kinds whose latest evidence is recent.")
    results_applicable = models.PositiveIntegerField(default=0)
    results_failing = models.PositiveIntegerField(default=0)
    results_missing = models.PositiveIntegerField(default=0)
    gate_blocked_subjects = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["day", "system"], name="system_metric_snapshot_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.system_id}"

    @property
    def provenance_share(self) -> float | None:
        if not self.prod_deployments:
            return None
        return self.prod_deployments_with_provenance / self.prod_deployments

    @property
    def freshness(self) -> float | None:
        if not self.evidence_kinds:
            return None
        return self.evidence_kinds_fresh / self.evidence_kinds

    @property
    def failure_rate(self) -> float | None:
        if not self.results_applicable:
            return None
        return self.results_failing / self.results_applicable


class RuleDryRun(models.Model):
    """A dry run of a rule from the editor: queued by the page, run by a worker, polled for progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.DONE, Status.FAILED},
    }

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rule_key = models.CharField(max_length=80)
    spec = models.JSONField(help_text="The rule as the editor held it (rule_from_dict fields).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Subjects (or systems) the rule may select.")
    done = models.PositiveIntegerField(default=0, help_text="How many of them have been evaluated.")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "done", "failed"]),
                name="rule_dry_run_status_valid",
                violation_error_message="Status must be queued, running, done or failed.",
            ),
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")),
                name="rule_dry_run_progress_valid",
                violation_error_message="A dry run cannot have evaluated more subjects than it has.",
            ),
        ]

    def __str__(self) -> str:
        return f"dry run {self.pk} of {self.rule_key}: {self.status}"

    # A run queued or running for longer than the task's hard time limit (tasks.rule_dry_run_execute,
    # 900 s) and a margin will not finish: its worker died. The page says so instead of polling for ever.
    STALE_AFTER = timedelta(minutes=20)

    @property
    def stale(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING) and (
            timezone.now() - self.created_at > self.STALE_AFTER
        )

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED) or self.stale

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0
