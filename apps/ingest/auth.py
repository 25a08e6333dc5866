"""How ingestion requests prove which source sent them, and how fast a source may send.

- Uploads (and receipt look-ups) carry the source's bearer token: `Authorization: Bearer cps_…`.
- GitHub cannot send a bearer token, so its webhook URL names the source
  (`/api/v1/ingest/github?source=<id>`) and the body is checked against
  `X-Hub-Signature-256` (HMAC-SHA256 with the source's signing secret).
- GitLab likewise names the source in the URL and sends the secret in `X-Gitlab-Token`.

A source that authenticates but is disabled gets 403; the check that it may send comes
after the credential, so nobody learns anything about a source without its credential.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import threading
import time

import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, connection
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from apps.ingest.crypto import SecretUnreadable, secret_decrypt
from apps.ingest.models import Receipt, Source
from apps.ingest.services import TOKEN_PREFIX, token_hash
from apps.ledger.services import prepared_cursor

logger = logging.getLogger(__name__)

# Only what the accept path and permission checks read: one narrow query per request.
SOURCE_FIELDS = ("id", "kind", "name", "enabled", "system_id", "token_hash", "secret_encrypted")


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "the request body is too large"
    default_code = "payload_too_large"


def check_content_length(request) -> None:
    """413 from the Content-Length header alone, before a byte of the body is read."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise exceptions.ParseError(f"Content-Length {raw[:40]!r} is not a number") from None
    limit = settings.PORTAL_INGEST_MAX_BYTES
    if length > limit:
        raise PayloadTooLarge(f"the body is {length} bytes; this portal accepts at most {limit} bytes")


def read_body(request) -> bytes:
    """The raw body, read once (the length was checked first; this also guards a lying header)."""
    django_request = getattr(request, "_request", request)
    body = getattr(django_request, "_ingest_body", None)
    if body is None:
        check_content_length(django_request)
        limit = settings.PORTAL_INGEST_MAX_BYTES
        body = django_request.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes, the most this portal accepts")
        django_request._ingest_body = body
    return body


def _bearer(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def source_for_token(token: str) -> Source | None:
    """The source whose token this is (constant-time comparison of the stored hash)."""
    digest = token_hash(token)
    source = next(iter(Source.objects.only(*SOURCE_FIELDS).filter(token_hash=digest)), None)
    if source is None or not hmac.compare_digest(source.token_hash, digest):
        return None
    return source


class SourceTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer cps_…`: the request comes from that source (request.auth)."""

    def authenticate(self, request):
        token = _bearer(request)
        if token is None:
            return None
        if not token.startswith(TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed("the bearer token is not a source token (they start with cps_)")
        source = source_for_token(token)
        if source is None:
            raise exceptions.AuthenticationFailed("the bearer token is not valid (rotated, or never issued)")
        return (AnonymousUser(), source)

    def authenticate_header(self, request):
        return 'Bearer realm="compliance-portal"'


# The narrow source row a webhook names, read with one plain statement (the ORM's queryset machinery
# costs more than the lookup itself on the accept path, which runs for every delivery). Columns in
# the model's field order, as Model.from_db() expects them.
_WEBHOOK_SOURCE_COLUMNS = tuple(f.attname for f in Source._meta.concrete_fields if f.attname in SOURCE_FIELDS)
# With it, in the same statement, the receipt already accepted under the delivery's id (a replay
# answers it; its columns as Model.from_db() expects them), so an accept costs one SELECT, not two.
_ORIGINAL_FIELDS = ("id", "source_id", "delivery_key", "sha256", "state", "attempts")
_ORIGINAL_COLUMNS = tuple(f.attname for f in Receipt._meta.concrete_fields if f.attname in _ORIGINAL_FIELDS)
_WEBHOOK_SOURCE_SQL = (
    "SELECT "  # noqa: S608 - column names of our own models, no values
    + ", ".join(f"s.{c}" for c in _WEBHOOK_SOURCE_COLUMNS)
    + ", "
    + ", ".join(f"r.{c}" for c in _ORIGINAL_COLUMNS)
    + " FROM ingest_source s LEFT JOIN ingest_receipt r ON r.source_id = s.id AND r.delivery_key = %s "
    "AND r.delivery_key <> '' WHERE s.id = %s AND s.kind = %s"
)


# Every refusal of a webhook that names a source reads the same: whether the id exists, is of another
# kind, is disabled, or the signature or token does not match, the sender learns nothing it did not know.
WEBHOOK_REFUSED = (
    "webhook refused: no enabled source of this kind with this id and secret "
    "(create_source printed both; an admin can check whether the source is enabled)"
)


def webhook_source(raw_id: str, *, kind: str, label: str) -> tuple[Source, str]:
    """The enabled source a webhook URL names (`?source=<id>`) and its signing secret; 401 otherwise."""
    source, secret, _ = webhook_sender(raw_id, kind=kind, label=label)
    return source, secret


def webhook_sender(raw_id: str, *, kind: str, label: str, delivery_key: str = "") -> tuple[Source, str, Receipt | None]:
    """The enabled source a webhook URL names (`?source=<id>`), its signing secret, and the receipt
    it already sent under `delivery_key` (None: a new delivery), in one statement; 401 otherwise.

    Runs before the body is read: an unknown or disabled source costs no upload. Always read from
    the database (never cached), so a rotated secret or a disabled source takes effect with the next
    delivery. The receipt is only returned, never shown, before the credential is checked."""
    if not raw_id:
        raise exceptions.NotAuthenticated(
            f"name the source in the webhook URL: /api/v1/ingest/{kind}?source=<id> (the id printed by create_source)"
        )
    if not raw_id.isdigit() or len(raw_id) > 18:
        raise exceptions.AuthenticationFailed(f"?source={raw_id[:40]!r} is not a source id")
    row = _sender_row([delivery_key[:200], int(raw_id), kind])
    source = original = None
    if row is not None:
        split = len(_WEBHOOK_SOURCE_COLUMNS)
        source = Source.from_db(connection.alias, _WEBHOOK_SOURCE_COLUMNS, row[:split])
        if row[split] is not None:
            original = Receipt.from_db(connection.alias, _ORIGINAL_COLUMNS, row[split:])
    if source is None or not source.secret_encrypted:
        raise exceptions.AuthenticationFailed(WEBHOOK_REFUSED)
    if not source.enabled:
        logger.warning("webhook for disabled %s source %s refused before its body was read", label, source.pk)
        raise exceptions.AuthenticationFailed(WEBHOOK_REFUSED)
    try:
        secret = secret_decrypt(source.secret_encrypted)
    except SecretUnreadable:
        logger.error("source %s: signing secret does not decrypt with PORTAL_SECRETS_KEY", source.pk)
        raise exceptions.AuthenticationFailed(WEBHOOK_REFUSED) from None
    return source, secret, original


def _sender_row(params: list) -> tuple | None:
    """Run _WEBHOOK_SOURCE_SQL, prepared, as the health check of a reused connection too.

    It is a webhook request's first statement and a read, so it can stand in for Django's
    per-request health check (CONN_HEALTH_CHECKS: a `SELECT 1` before the first query, one more
    round trip for every delivery): a persistent connection that PostgreSQL dropped (a restart)
    fails here, is closed and the statement runs once more on a new one; a database that is
    really down still raises, and the request gets its 503 (compliance_portal/db_unavailable.py)."""
    retry = not connection.in_atomic_block
    connection.health_check_done = True
    while True:
        try:
            with prepared_cursor() as cursor:
                cursor.execute(_WEBHOOK_SOURCE_SQL, params)
                return cursor.fetchone()
        except (OperationalError, InterfaceError):
            if not retry:
                raise
            retry = False
            logger.info("webhook: the database connection was dropped; connecting again")
            connection.close()


def github_signature_check(secret: str, body: bytes, given: str) -> None:
    """`X-Hub-Signature-256` must be "sha256=" + the HMAC-SHA256 of the exact body with the secret."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise exceptions.AuthenticationFailed(WEBHOOK_REFUSED)


def gitlab_token_check(secret: str, given: str) -> None:
    """`X-Gitlab-Token` must equal the source's secret token."""
    if not hmac.compare_digest(secret.encode(), given.encode()):
        raise exceptions.AuthenticationFailed(WEBHOOK_REFUSED)


def source_enabled_check(source: Source) -> None:
    """403 for a disabled source (checked after its credential, so nobody learns about a source without it)."""
    if not source.enabled:
        raise exceptions.PermissionDenied(f"source {source.name!r} is disabled; an admin can enable it again")


class _WebhookAuthentication(BaseAuthentication):
    kind: str = ""
    label: str = ""
    # The credential header; its absence is told plainly (it says nothing about any source).
    header: str = ""
    missing: str = ""

    def authenticate(self, request):
        check_content_length(request._request)
        if not request.META.get(self.header, ""):
            raise exceptions.AuthenticationFailed(self.missing)
        # Source, kind and enabled state first: the body is read only for an enabled source.
        source, secret = webhook_source(request.query_params.get("source", ""), kind=self.kind, label=self.label)
        self.verify(request, secret)
        return (AnonymousUser(), source)

    def verify(self, request, secret: str) -> None:
        raise NotImplementedError


class GitHubSignatureAuthentication(_WebhookAuthentication):
    """`?source=<id>` names the source; `X-Hub-Signature-256` must be the HMAC-SHA256 of the body."""

    kind, label = Source.Kind.GITHUB, "GitHub"
    header = "HTTP_X_HUB_SIGNATURE_256"
    missing = "missing X-Hub-Signature-256 header: set the webhook's secret to the one create_source printed"

    def verify(self, request, secret: str) -> None:
        github_signature_check(secret, read_body(request), request.META[self.header])

    def authenticate_header(self, request):
        return 'X-Hub-Signature-256 realm="compliance-portal"'


class GitLabTokenAuthentication(_WebhookAuthentication):
    """`?source=<id>` names the source; `X-Gitlab-Token` must equal its secret."""

    kind, label = Source.Kind.GITLAB, "GitLab"
    header = "HTTP_X_GITLAB_TOKEN"
    missing = "missing X-Gitlab-Token header: set the webhook's secret token to the one create_source printed"

    def verify(self, request, secret: str) -> None:
        gitlab_token_check(secret, request.META[self.header])  # the body is not needed: never read here

    def authenticate_header(self, request):
        return 'X-Gitlab-Token realm="compliance-portal"'


class IsEnabledSource(BasePermission):
    """The request was authenticated as a source, and that source is enabled."""

    def has_permission(self, request, view):
        source = request.auth
        if not isinstance(source, Source):
            return False
        source_enabled_check(source)
        return True


class IsSignedInUserOrEnabledSource(BasePermission):
    def has_permission(self, request, view):
        if isinstance(request.auth, Source):
            return IsEnabledSource().has_permission(request, view)
        return bool(request.user and request.user.is_authenticated)


# ---------------------------------------------------------------- rate limit

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@functools.lru_cache(maxsize=8)
def parse_rate(rate: str) -> tuple[int, int]:
    """'6000/min' -> (6000, 60)."""
    number, _, period = rate.partition("/")
    try:
        return int(number), _PERIODS[period.strip().lower()]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"PORTAL_INGEST_RATE={rate!r}: use <n>/sec, <n>/min or <n>/hour") from None


@functools.lru_cache(maxsize=2)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


class RateReservations:
    """This process's share of each source's rate window, taken from Redis ahead of use.

    One INCR per request was a Redis round trip on every accept. A process that keeps using a
    source's window now reserves its requests in growing chunks (INCRBY 1, 2, 4… up to 1/64 of the
    limit) and admits them from memory. Admissions over all processes never pass the limit: a chunk
    is granted only as far as the window's count allows. What a process reserved and did not use
    lapses with the window, so a source sending through several busy processes may be refused up to
    one chunk per process early (1/64 of the limit each); under 128 a window, every request is
    counted in Redis as it comes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (source, window, limit) -> [requests left, last chunk]
        self._held: dict[tuple[int, int, int], list[int]] = {}

    def wait(self, source_id: int, limit: int, period: int, now: float) -> float | None:
        """None when this request is admitted, else the seconds until the window ends (RedisError
        when Redis cannot be asked)."""
        window = int(now // period)
        slot = (source_id, window, limit)
        key = f"portal:ingest-rate:{source_id}:{window}"
        with self._lock:
            held = self._held.get(slot)
            if held is not None and held[0] > 0:
                held[0] -= 1
                return None
            chunk = min(held[1] * 2, max(1, limit // 64)) if held is not None else 1
        conn = _redis(settings.REDIS_URL)
        count = conn.incrby(key, chunk)
        if count == chunk:  # the window's first reservation sets its expiry (a lost EXPIRE only leaks one key)
            conn.expire(key, period + 1)
        granted = min(chunk, limit - (count - chunk))
        if granted <= 0:
            return period - (now % period)
        with self._lock:
            if slot not in self._held:  # a new window: what was held of earlier ones lapses
                self._held = {s: v for s, v in self._held.items() if s[1] == window}
            held = self._held.setdefault(slot, [0, chunk])
            held[0] += granted - 1
            held[1] = chunk
        return None


_RESERVATIONS = RateReservations()


def source_rate_wait(source: Source) -> float | None:
    """PORTAL_INGEST_RATE per source: None when this request is within the limit, else the seconds
    until the window ends. A fixed window counted in Redis, in chunks a busy process reserves
    (RateReservations); if Redis is down the request goes through: ingestion must not depend on
    the rate limiter."""
    limit, period = parse_rate(settings.PORTAL_INGEST_RATE)
    try:
        return _RESERVATIONS.wait(source.pk, limit, period, time.time())
    except redis.RedisError as exc:
        logger.warning("ingest rate limit not applied: %s", exc)
        return None


def source_throttled(source: Source, wait: float | None) -> exceptions.Throttled:
    """The 429 a source gets past PORTAL_INGEST_RATE (Retry-After: the rest of the window)."""
    limit, period = parse_rate(settings.PORTAL_INGEST_RATE)
    return exceptions.Throttled(
        wait,
        detail=f"source {source.name!r} sent more than {limit} requests in {period} s; retry in {int(wait or 1)} s",
    )


class SourceRateThrottle(BaseThrottle):
    """DRF's face of source_rate_wait().

    DRF's SimpleRateThrottle keeps every request's timestamp in one cache value and rewrites
    it on each request, which at thousands of requests a minute costs more than the accept
    itself; an INCR per window is enough to stop a runaway sender.
    """

    def allow_request(self, request, view):
        source = request.auth
        if not isinstance(source, Source):
            return True
        self._wait = source_rate_wait(source)
        return self._wait is None

    def wait(self):
        return getattr(self, "_wait", None)
