"""Celery wrappers of the pack services. Builds and chunk renders run on the "heavy" queue
(CELERY_TASK_ROUTES), whose workers recycle their process after every task (--max-tasks-per-child 1)
to give WeasyPrint's memory back. A task is a whole build or a helper that renders chunks until none
is left, not one chunk, so the recycling costs one fork per task, not per chunk."""

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings

from apps.packs.services import PackBusy
from apps.packs.services import pack_build as build
from apps.packs.services import pack_render_chunk as render
from apps.packs.services import pack_sweep as sweep


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=5,
    time_limit=settings.PORTAL_PACK_TIME_LIMIT,
    soft_time_limit=settings.PORTAL_PACK_TIME_LIMIT - 30,
)
def pack_build(self, pack_id: int) -> None:
    """Build one pack (a no-op when it is built, cancelled or failed; retried later while another worker holds it)."""

    try:
        build(pack_id=pack_id)
    except PackBusy as busy:
        # Redelivered while the worker that died still holds a live lease: come back when it lapses.
        raise self.retry(countdown=busy.retry_in, max_retries=50) from None


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=settings.PORTAL_PACK_TIME_LIMIT)
def pack_render_chunk(pack_id: int, token: str) -> int:
    """Render queued chunks of a running build (another heavy worker's help)."""

    return render(pack_id=pack_id, token=token)


@shared_task(acks_late=True, time_limit=60, soft_time_limit=55)
def pack_sweep() -> dict:
    """Beat, every minute: queue again builds whose worker died and packs whose message was lost."""

    return sweep()


@worker_init.connect
def _preload_renderer(sender=None, **kwargs) -> None:
    """Import WeasyPrint and pypdf in the worker's parent process, so that every forked child (one per
    task on the heavy queue) starts with them loaded instead of paying the import each time.

    It works with --max-tasks-per-child 1: Celery sends worker_init before it starts the prefork pool,
    so each child is forked with the modules (and WeasyPrint's user-agent stylesheets, parsed at
    import) in memory; measured, the import is about 0.4 s of CPU per child saved. Nothing else is
    worth keeping across tasks: a chunk rendered by a fresh child costs the same CPU as one rendered
    by a child that has rendered before (fonts and CSS load in milliseconds), and a build renders
    all the chunks it claims within its one task anyway."""
    import pypdf  # noqa: F401, PLC0415 - PDF libraries load only where packs render
    import weasyprint  # noqa: F401, PLC0415 - PDF libraries load only where packs render
