"""Logs of every process in one format: request ids, task ids, and quiet development consoles.

One `logging_config()` serves Django (settings.LOGGING), the Celery worker and beat (which take it
instead of hijacking the root logger, compliance_portal/celery.py) and gunicorn (its error and
access logs, compliance_portal/gunicorn.conf.py). Production writes JSON lines; the dev profile
writes short text lines and only what a developer needs to see, so a real problem is not lost in
noise: warnings and errors,
one line per page or API request (no static files), one line per slow or failed task.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from gunicorn.glogging import Logger as _GunicornLogger

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Accept a caller's id only when it is short and plain, so logs cannot be injected into.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Loggers of our own that stay at INFO in the quiet dev console.
ACCESS_LOGGER = "portal.access"
TASKS_LOGGER = "portal.tasks"
JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(task_name)s"


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id`, `task_id` and `task_name` to every record (a dash where there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # an access line brings the id of the request it reports
            record.request_id = _request_id.get()
        if not hasattr(record, "task_id"):
            record.task_id, record.task_name = _task_of(record)
        return True


def _task_of(record: logging.LogRecord) -> tuple[str, str]:
    # Celery's own lines (received, succeeded, failed) carry the task in `data`; lines logged inside
    # a task find it as the current task.
    data = getattr(record, "data", None)
    if isinstance(data, dict) and data.get("id"):
        return str(data["id"]), str(data.get("name", "-"))
    from celery import current_task  # noqa: PLC0415 - the settings load this module, before Django and Celery

    task = current_task._get_current_object() if current_task else None
    if task is not None and task.request.id:
        return task.request.id, task.name
    return "-", "-"


class RequestIdMiddleware:
    """Take X-Request-ID from a trusted proxy or make one; echo it in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        request.request_id = request_id
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


def logging_config(*, fmt: str, level: str, quiet: bool) -> dict:
    """The dictConfig of every process. `quiet` (the dev console): warnings and errors, plus our
    access and slow-task lines; the chatter of Celery, beat, fontTools and WeasyPrint stays out."""
    others = "WARNING" if quiet else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "compliance_portal.logging.RequestIdFilter"}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": JSON_FORMAT,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
            # honcho (`make run`) prefixes each line with the time and the process name.
            "text": {"format": "%(levelname)-7s %(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": others},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "celery": {"level": others},
            "axes": {"level": "WARNING"},
            # Font subsetting for every PDF: "glyf pruned", "Glyph IDs", hundreds of lines per pack.
            "fontTools": {"level": "WARNING"},
            # "Step 2 - Creating layout - Page N" for every page of every pack.
            "weasyprint.progress": {"level": "WARNING"},
            ACCESS_LOGGER: {"level": "INFO"},
            TASKS_LOGGER: {"level": "INFO"},
            "gunicorn.error": {"level": others, "handlers": ["console"], "propagate": False},
            # Replaced by ACCESS_LOGGER lines (GunicornLogger.access); silent if anything writes here.
            "gunicorn.access": {"level": "WARNING", "handlers": ["console"], "propagate": False},
        },
    }


class GunicornLogger(_GunicornLogger):
    """gunicorn's logger, with one structured line per request on ACCESS_LOGGER.

    The line carries the request id the application answered with (X-Request-ID), method, path,
    status, duration and client. Paths under settings.PORTAL_ACCESS_LOG_SKIP (the dev console:
    static files) get no line.
    """

    @property
    def access_log_enabled(self):
        # gunicorn asks before it builds a request's log data: always, the lines are ours.
        return True

    def access(self, resp, req, environ, request_time):
        from django.conf import settings  # noqa: PLC0415 - the settings load this module, before Django and Celery

        path = environ.get("PATH_INFO", "")
        if settings.PORTAL_ACCESS_LOG_SKIP and path.startswith(settings.PORTAL_ACCESS_LOG_SKIP):
            return
        request_id = next((v for k, v in (resp.headers or ()) if k.lower() == "x-request-id"), "-")
        duration_ms = round(request_time.total_seconds() * 1000, 1)
        status = str(resp.status).split(None, 1)[0]
        logging.getLogger(ACCESS_LOGGER).info(
            "%s %s %s %.0fms", environ.get("REQUEST_METHOD"), path, status, duration_ms,
            extra={
                "request_id": request_id,
                "method": environ.get("REQUEST_METHOD"),
                "path": path,
                "query": environ.get("QUERY_STRING", ""),
                "status": int(status) if status.isdigit() else status,
                "duration_ms": duration_ms,
                "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT", ""),
            },
        )
