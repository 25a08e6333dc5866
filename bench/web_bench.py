"""Authenticated page requests per second through gunicorn, against a bare Django view.

Both served by the same gunicorn (3 sync workers) in the same run, loaded by the same
loopback client (4 keep-alive processes, bounded to 8 s each). The page is the systems
list, signed in as an auditor (session cookie, real middleware), at each scale (the list grows
with the systems: ~20 at 10k evidence, ~200 at 1M; the auditor's engagement covers the demo ones).
"""

from __future__ import annotations

from bench.common import django_setup, gunicorn, load, row

SCALED = True
SECONDS = 8.0


def _session_cookie() -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.models import User

    user = User.objects.get(username="auditor")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def run(scale: str = "") -> list[dict]:
    django_setup()
    cookie = _session_cookie()
    with gunicorn(workers=3) as url:
        load(url, "/bench/bare", seconds=1)  # warm up workers and connections
        bare = load(url, "/bench/bare", seconds=SECONDS)
        page = load(url, "/systems/", headers={"Cookie": cookie}, seconds=SECONDS)
    if page["errors"] or bare["errors"]:
        raise RuntimeError(f"errors during the web benchmark: page {page['errors']}, bare {bare['errors']}")
    return [
        row("web: signed-in systems page through gunicorn", page["rps"], "req/s", bare["rps"], "req/s bare view"),
        row("web: systems page p95 latency", page["p95_ms"], "ms", bare["p95_ms"], "ms bare view"),
    ]


if __name__ == "__main__":
    for r in run():
        print(r)
