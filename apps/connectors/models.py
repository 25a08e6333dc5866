"""What the pull connectors record: one SyncRun per pull of a source.

The connector settings of a source (endpoint, credentials, interval, cursor, backoff) are
fields of `apps.ingest.models.Source`; `apps.connectors.services` reads and writes them.
"""

from __future__ import annotations

from django.db import models

from apps.ingest.models import Source


class SyncRun(models.Model):
    """One pull of a source by its connector: when, how many items, how it ended."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Sync now"
        COMMAND = "command", "sync_source command"
        WEBHOOK = "webhook", "Webhook"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="sync_runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    items = models.PositiveIntegerField(default=0, help_text="Documents fetched and accepted as receipts.")
    new_receipts = models.PositiveIntegerField(default=0, help_text="Of those, how many were new (not replays).")
    error = models.TextField(blank=True)
    cursor = models.JSONField(default=dict, blank=True, help_text="The cursor this run ended with.")

    class Meta:
        # The table kept its name when the model moved here from ingest (no data moved).
        db_table = "ingest_syncrun"
        ordering = ["-started_at", "-id"]
        constraints = [
            # One sync of a source at a time: a second claim fails on this index.
            models.UniqueConstraint(
                fields=["source"],
                condition=models.Q(status="running"),
                name="syncrun_one_running_per_source",
                violation_error_message="This source is already being synced.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["running", "succeeded", "failed"]),
                name="syncrun_status_valid",
                violation_error_message="Unknown sync status.",
            ),
        ]
        indexes = [models.Index(fields=["source", "-started_at"], name="syncrun_source_started")]

    def __str__(self) -> str:
        return f"sync {self.pk} of {self.source_id} ({self.status})"
