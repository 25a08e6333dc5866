"""The lean path for webhook deliveries: past the browser middleware they never use.

A GitHub or GitLab delivery carries no cookie, no CSRF token and no user: it is authenticated by
its signature (or token) against the source its URL names, inside the view. Yet every request
through the full stack pays for sessions, CSRF, authentication, OTP, idle-timeout and MFA checks,
CSP, messages, htmx, the auditor access log and axes, about as much CPU as the accept itself
(docs/BENCHMARKS.md, "Ingestion accept at line rate").

`IngestFastPathMiddleware` sits in settings.MIDDLEWARE right after SecurityMiddleware. For the
EXACT paths of the webhook endpoints (their URL names in FAST_PATH_URLS, reversed once) it calls
the view itself and returns; every other request continues down the stack unchanged. What stays
for a delivery is everything above this middleware: the request id (RequestIdMiddleware), the
database-unavailable 503 (DatabaseUnavailableMiddleware: a view's exception still reaches it,
through Django's got_request_exception) and the security headers (SecurityMiddleware); the
view's own checks (body size limit, credential, enabled source, rate limit, JSON body) are the
same as before. What is skipped does not apply: CSRF does not apply to these views (they are
csrf_exempt: nothing here is a browser form), and no session or user is ever read by them.
The frame and content-security headers the skipped middleware would add are set here instead
(constant, for a JSON answer).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import get_script_prefix, resolve, reverse

# URL names of the endpoints served past the browser middleware: webhook deliveries only (uploads
# share their path with a signed-in user's evidence list, which needs the session).
FAST_PATH_URLS = ("ingest-api:github", "ingest-api:gitlab")

# What XFrameOptionsMiddleware and CSPMiddleware would add; an API answer embeds and loads nothing.
_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}


class IngestFastPathMiddleware:
    """Serve the webhook endpoints directly, skipping the middleware below this one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self._views: dict[str, Callable] | None = None

    def views(self) -> dict[str, Callable]:
        """{exact path: view}, built on the first request (the URLconf is loaded by then)."""
        if self._views is None:
            # As request.path_info has them: without the script prefix (SCRIPT_NAME) reverse() adds.
            prefix = get_script_prefix()
            paths = ("/" + reverse(name).removeprefix(prefix) for name in FAST_PATH_URLS)
            self._views = {path: resolve(path).func for path in paths}
        return self._views

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views().get(request.path_info)
        if view is None:
            return self.get_response(request)
        response = view(request)
        for header, value in _HEADERS.items():
            response.headers.setdefault(header, value)
        return response
