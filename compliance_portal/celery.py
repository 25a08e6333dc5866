"""The Celery app. Queues, limits and the beat schedule live in settings (CELERY_*)."""

import gc
import logging
import os
import time

from celery import Celery, signals
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
        from compliance_portal.heartbeat import heartbeat_touch  # noqa: PLC0415 - see above

        heartbeat_touch("beat")
        return super().tick(*args, **kwargs)


@signals.setup_logging.connect
def logging_from_settings(**kwargs):
    """Worker and beat log through settings.LOGGING (JSON lines with the task id in prod) instead of
    Celery's own plain-text set-up: with a receiver for this signal Celery configures nothing."""
    from logging.config import dictConfig  # noqa: PLC0415 - loaded with the settings, before Django's apps

    from django.conf import settings  # noqa: PLC0415 - loaded with the settings, before Django's apps

    dictConfig(settings.LOGGING)


@signals.worker_ready.connect
@signals.worker_process_init.connect
def freeze_start_up_objects(**kwargs):
    """In each pool process, once it is set up: move every object alive now (Django, the apps and their
    modules: ~150,000) to the garbage collector's permanent generation. They live as long as the process,
    and each full collection walked them all: parsing a 10,000-component SBOM spent ~0.2 s of its ~0.8 s
    CPU on that (docs/BENCHMARKS.md, "Parse through the worker"). Nothing else changes: objects made by
    tasks are collected as before. Also in the worker's main process once it is ready: with the solo pool
    (`--pool solo`, the tests' worker) that process runs the tasks itself."""
    gc.freeze()


_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_clock_start(task_id=None, **kwargs):
    _task_started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_clock_stop(task_id=None, task=None, state=None, **kwargs):
    """One line per task slower than PORTAL_SLOW_TASK_SECONDS (failures get Celery's error line)."""
    from django.conf import settings  # noqa: PLC0415 - loaded with the settings, before Django's apps

    started = _task_started.pop(task_id, None)
    if started is None:
        return
    took = time.monotonic() - started
    if took > settings.PORTAL_SLOW_TASK_SECONDS:
        logging.getLogger("portal.tasks").info(
            "task %s took %.1fs (%s)", task.name, took, state, extra={"duration_s": round(took, 3)}
        )
