"""503 Service Unavailable while PostgreSQL is unreachable, instead of a 500.

When the database restarts or the network to it drops, every request that needs it fails
with django.db.OperationalError or InterfaceError. That is not a bug of the request: the
client should come back shortly. This middleware answers those failures with 503 and a
Retry-After header, as JSON ({"error": ...}) under /api/ and as a plain page elsewhere, so
that webhook senders and upload clients retry (GitHub and GitLab redeliver on 5xx; our own
clients retry on 503). Nothing is half-written: a receipt and its ledger entry commit
together or not at all, and a retried delivery with the same id is deduplicated.

Persistent connections recover by themselves after the restart: CONN_HEALTH_CHECKS makes
Django test a reused connection at the start of each request, and a connection that raised
is marked unusable and closed at the end of its request.

Errors raised in a view reach `process_exception`. Errors raised in another middleware (the
session middleware loading a session, say) are turned into a 500 response by Django before
they reach ours; the `got_request_exception` receiver marks such a request, and `__call__`
swaps its 500 for the 503.
"""

from __future__ import annotations

import logging
import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying: a PostgreSQL restart takes a few seconds.
RETRY_AFTER_SECONDS = 5
# SQLSTATEs that mean "the server is going away or not there yet" (class 08: connection exception;
# 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now: starting up or in recovery).
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")

_PAGE = (
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Temporarily unavailable</title></head>\n<body><h1>Temporarily unavailable</h1>\n"
    "<p>The compliance portal cannot reach its database right now (it may be restarting). "
    "Nothing you sent was half-saved. Please try again in a few seconds.</p></body></html>\n"
)


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True when `exc` says the database cannot be reached, not that a query was wrong."""
    if isinstance(exc, InterfaceError):  # "connection already closed": the server dropped it
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate is None:
        # Raised by the client library, not the server: connection refused, reset or closed mid-query.
        return True
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"error": f"the database is unavailable (restarting or unreachable); retry in {RETRY_AFTER_SECONDS} s"},
            status=503,
        )
    else:
        response = HttpResponse(_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turns "database unreachable" errors into 503 + Retry-After (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, "_database_unavailable", False):
            return unavailable_response(request)
        return response

    def process_exception(self, request, exception):
        if not is_database_unavailable(exception):
            return None
        logger.warning("database unavailable, answering 503: %s: %s", type(exception).__name__, exception)
        return unavailable_response(request)


@receiver(got_request_exception, dispatch_uid="portal-database-unavailable")
def _mark_database_unavailable(sender, request=None, **kwargs) -> None:
    # Sent while Django handles the exception, so sys.exc_info() is the failure itself.
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        request._database_unavailable = True


def schema_add_unavailable(result, generator, request, public):
    """drf-spectacular postprocessing hook: every API operation may answer 503 (this middleware)."""
    response = {
        "description": "The database is unreachable (restarting): nothing was written; "
        "retry after Retry-After seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}},
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
            }
        },
    }
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete") and isinstance(operation, dict):
                operation.setdefault("responses", {}).setdefault("503", response)
    return result
