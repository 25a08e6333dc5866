"""The "Sync now" button of a pull source's page (admins): queues a sync, the page shows its run."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.connectors.models import SyncRun
from apps.connectors.services import source_sync_soon
from apps.ingest.models import Source


@require_POST
@login_required
@permission_required("ingest.change_source", raise_exception=True)
def source_sync_now(request, pk: int):
    source = get_object_or_404(Source, pk=pk)
    if not source.is_pull or not source.endpoint_url:
        messages.error(request, f"{source.name} has no endpoint to pull from.")
    elif not source.enabled:
        messages.error(request, f"{source.name} is disabled; enable it first.")
    else:
        with transaction.atomic():
            source_sync_soon(source_id=source.pk, trigger=SyncRun.Trigger.MANUAL)
        messages.success(request, f"A sync of {source.name} is queued; its run appears below when it starts.")
    return redirect(source)
