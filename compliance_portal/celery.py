"""The Celery app. Queues, limits and the beat schedule live in settings (CELERY_*)."""

import os

from celery import Celery
from celery.beat import PersistentScheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_portal.settings")

app = Celery("compliance_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class HeartbeatScheduler(PersistentScheduler):
    """Beat's scheduler, plus a heartbeat file per tick (CELERY_BEAT_SCHEDULER): beat answers no
    request, so its container health check reads the file (compliance_portal/heartbeat.py)."""

    def tick(self, *args, **kwargs):
        # Imported here: `python -m compliance_portal.heartbeat` loads this package (and so this
        # module) first, and must find the heartbeat module not yet imported.
        from compliance_portal.heartbeat import heartbeat_touch

        heartbeat_touch("beat")
        return super().tick(*args, **kwargs)
