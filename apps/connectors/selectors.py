"""Reads of the connector app that are more than a lookup."""

from __future__ import annotations

from apps.ingest.models import Receipt


def registry_pulls_count(*, source_id: int, repository: str | None = None) -> int:
    """How many pulls a registry source's notifications reported (all, or of one repository).

    Pulls are access events, not evidence (issue 20): the notification API counts them per
    repository in the receipt's headers (`pulls`), once per envelope (a replay adds nothing)."""
    receipts = Receipt.objects.filter(
        source_id=source_id, channel=Receipt.Channel.OCI, event="notification", headers__has_key="pulls"
    )
    total = 0
    for pulls in receipts.values_list("headers__pulls", flat=True).iterator():
        if isinstance(pulls, dict):
            total += sum(n for repo, n in pulls.items() if repository is None or repo == repository)
    return total
