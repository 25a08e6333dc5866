"""Read replicas: reads of read-heavy pages go to a PostgreSQL replica, everything else to the primary.

Active only when PORTAL_DATABASE_REPLICA_URLS is set (settings then adds the aliases
"replica1"…, this router and `ReplicaRoutingMiddleware`); without it nothing here runs.

A read goes to a replica only when all of these hold, otherwise to "default" (the primary):

- the request opted in: a GET or HEAD of a read-heavy page (`REPLICA_NAMESPACES`), without the
  pin cookie that a recent write by this browser set (read-your-writes across a redirect:
  the replica may not have replayed that write yet);
- nothing was written yet in this request (the first write pins the rest of it to the primary)
  and no transaction is open on the primary (a read inside `atomic()` belongs to it);
- the model is not one whose staleness matters for access or integrity (`PRIMARY_APPS`):
  sessions, users and roles, engagements (an ended engagement must stop access at once), the
  ledger (sequencing, proofs and verification read the primary only).

Celery tasks, management commands (the ledger sequencer, verify_ledger) and anything else
outside such a request never opt in, so they always use the primary. Raw SQL through
`django.db.connection` is the primary's too.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

# URL namespaces whose GET pages and API reads are read-heavy and tolerate a replica's lag.
REPLICA_NAMESPACES = frozenset({
    "dashboard", "inventory", "evidence", "search", "policy",
    "inventory-api", "evidence-api", "search-api", "policy-api",
})
# Within those: routes that decide something and must see the latest state (the CI gate).
PRIMARY_URL_NAMES = frozenset({"policy-api:gate", "policy-api:gate-query"})
# Apps whose rows decide access or carry integrity: always read from the primary.
PRIMARY_APPS = frozenset({
    "sessions", "auth", "contenttypes", "admin", "accounts", "engagements", "ledger",
    "axes", "otp_totp", "otp_static", "django_otp",
})
PIN_COOKIE = "portal_primary"


@dataclass
class _Routing:
    replica: str | None  # where this request's reads go now; None: the primary
    wrote: bool = False  # set by the first write: the rest of the request reads the primary


_routing: contextvars.ContextVar[_Routing | None] = contextvars.ContextVar("portal_db_routing", default=None)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "PORTAL_DATABASE_REPLICAS", ()))


@contextlib.contextmanager
def replica_reads(alias: str | None = None):
    """Let reads in this block go to a replica (one, chosen once), until the first write."""
    aliases = replica_aliases()
    chosen = alias or (random.choice(aliases) if aliases else None)
    token = _routing.set(_Routing(replica=chosen))
    try:
        yield
    finally:
        _routing.reset(token)


def pinned_to_primary() -> bool:
    """True when this request has written (its later reads must see the write)."""
    state = _routing.get()
    return state is not None and state.wrote


class ReplicaRouter:
    """Sends reads to the request's replica when it is safe (see the module docstring), writes to the primary."""

    def db_for_read(self, model, **hints):
        state = _routing.get()
        if state is None or state.replica is None or state.wrote:
            return DEFAULT_DB_ALIAS
        if model._meta.app_label in PRIMARY_APPS:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        instance = hints.get("instance")
        if instance is not None and instance._state.db == DEFAULT_DB_ALIAS and instance._state.adding is False:
            # Related rows of an object read from (or written to) the primary: stay with it.
            return DEFAULT_DB_ALIAS
        return state.replica

    def db_for_write(self, model, **hints):
        state = _routing.get()
        if state is not None:
            state.wrote = True  # read-your-writes: the rest of the request reads the primary
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        same = {DEFAULT_DB_ALIAS, *replica_aliases()}
        if obj1._state.db in same and obj2._state.db in same:
            return True  # replicas hold the primary's data: one database
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db in replica_aliases():
            return False  # replicas replay the primary's WAL, migrations included
        return None


class ReplicaRoutingMiddleware:
    """Opts read-heavy GET/HEAD requests into replica reads; pins a browser to the primary after a write.

    After any non-safe request (POST, PUT, PATCH, DELETE) the response sets a short-lived cookie
    (PORTAL_DATABASE_REPLICA_PIN_SECONDS): the browser's next requests, typically the page the
    POST redirects to, read the primary, so they see what was just written even while the
    replica lags behind.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        aliases = replica_aliases()
        if request.method in ("GET", "HEAD") and not request.COOKIES.get(PIN_COOKIE) and aliases:
            # The primary until process_view knows the page is a read-heavy one (middleware before
            # it, sessions and authentication, read primary-only models anyway).
            token = _routing.set(_Routing(replica=None))
            request._portal_replica = random.choice(aliases)
            try:
                return self.get_response(request)
            finally:
                _routing.reset(token)
        response = self.get_response(request)
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            # Only after a state-changing request: a GET that writes (the session's idle timer, the
            # auditor access log) does not pin the browser, or every signed-in page would.
            response.set_cookie(
                PIN_COOKIE, "1", max_age=settings.PORTAL_DATABASE_REPLICA_PIN_SECONDS, httponly=True,
                secure=settings.SESSION_COOKIE_SECURE, samesite="Lax",
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        state = _routing.get()
        match = request.resolver_match
        if state is None or state.wrote or match is None:
            return None
        if match.namespace in REPLICA_NAMESPACES and match.view_name not in PRIMARY_URL_NAMES:
            state.replica = request._portal_replica
        return None
