import json
import logging

import pytest

from compliance_portal.logging import RequestIdFilter, current_request_id


@pytest.mark.django_db
def test_every_response_carries_a_request_id_and_a_safe_incoming_one_is_kept(client):
    generated = client.get("/accounts/login/")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="ci-run-42")["X-Request-ID"] == "ci-run-42"
    hostile = client.get("/accounts/login/", HTTP_X_REQUEST_ID='x"\n{"level":"forged"}')["X-Request-ID"]
    assert "\n" not in hostile and len(hostile) == 32


def test_log_lines_are_json_with_the_request_id():
    from django.conf import settings

    from compliance_portal.logging import _request_id

    formatter_cfg = settings.LOGGING["formatters"]["json"]
    formatter = formatter_cfg["()"]
    module, _, name = formatter.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    fmt = cls(fmt=formatter_cfg["fmt"], rename_fields=formatter_cfg["rename_fields"])
    token = _request_id.set("req-123")
    try:
        record = logging.LogRecord("portal", logging.INFO, __file__, 1, "evidence accepted", None, None)
        RequestIdFilter().filter(record)
        line = json.loads(fmt.format(record))
    finally:
        _request_id.reset(token)
    assert line["request_id"] == "req-123"
    assert line["message"] == "evidence accepted" and line["level"] == "INFO"
    assert current_request_id() == "-"


# ---------------------------------------------------------------- issue 23: every process logs the one format
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

from tests.conftest import _worker_env, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def process_env(django_db_setup, django_db_blocker):
    """The environment of a process started by a test: the test database, the test Redis."""
    from django.db import connection

    with django_db_blocker.unblock():
        return _worker_env(connection.settings_dict["NAME"])


def _run_until(args, env, log_path, ready, *, then=None):
    """Start a process writing to log_path, wait for `ready(log text)`, run `then`, stop, return its lines."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or ready(log_path.read_text()), timeout=60)
        assert proc.poll() is None, log_path.read_text()
        if then:
            then()
    finally:
        _stop(proc)
    return [line for line in log_path.read_text().splitlines() if line.strip()]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, sent again when one is lost, then SIGKILL. Celery beat loses a SIGTERM that lands while it
    publishes (the one moment this test looks for): its handler closes the schedule's connection and raises
    SystemExit inside the publish, the publish fails with "I/O operation on closed file", beat logs that and
    carries on. A CI run caught it sending due tasks for a minute after the test had stopped it."""
    for _ in range(3):
        proc.terminate()
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.wait(timeout=10)


def _json_lines(lines: list[str]) -> list[dict]:
    not_json = [line for line in lines if not line.startswith("{")]
    assert not not_json, not_json
    return [json.loads(line) for line in lines]


def _get(url: str, **headers) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def _gunicorn(env, tmp_path, port, requests):
    args = [sys.executable, "-m", "gunicorn", "-c", "compliance_portal/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]

    def answering(_text):
        try:
            return _get(f"http://127.0.0.1:{port}/accounts/login/")[0] == 200
        except OSError:
            return False

    return _run_until(args, {**env, "WEB_CONCURRENCY": "1", "WEB_THREADS": "2"}, tmp_path / "web.log", answering,
                      then=requests)


@pytest.mark.django_db(transaction=True)
def test_gunicorn_writes_one_json_access_line_per_request_with_its_request_id(process_env, tmp_path):
    port = _free_port()
    lines = _gunicorn(process_env, tmp_path, port, lambda: _get(f"http://127.0.0.1:{port}/accounts/login/",
                                                                **{"X-Request-ID": "log-test-42"}))
    records = _json_lines(lines)  # every line of the process is JSON
    access = [r for r in records if r["logger"] == "portal.access" and r["request_id"] == "log-test-42"]
    assert len(access) == 1, records
    assert access[0]["method"] == "GET" and access[0]["path"] == "/accounts/login/" and access[0]["status"] == 200
    assert access[0]["duration_ms"] >= 0
    # gunicorn's own lines (booting, listening) are JSON too.
    assert any(r["logger"] == "gunicorn.error" for r in records)


@pytest.mark.django_db(transaction=True)
def test_the_dev_console_gets_one_text_line_per_page_and_none_for_static_files(process_env, tmp_path,
                                                                              dev_static_root):
    port = _free_port()
    # The dev profile serves collected static files (`make run` collects them first); so does this test,
    # from the session's own collection (dev_static_root), so it holds on a clean checkout that never ran
    # `make run`.
    env = {**process_env, "PORTAL_PROFILE": "dev", "PORTAL_STATIC_ROOT": str(dev_static_root)}

    def requests():
        _get(f"http://127.0.0.1:{port}/accounts/login/", **{"X-Request-ID": "dev-page"})
        _get(f"http://127.0.0.1:{port}/static/js/charts.js")

    lines = _gunicorn(env, tmp_path, port, requests)
    pages = [line for line in lines if "GET /accounts/login/ 200" in line]
    assert len(pages) == 2  # the readiness probe and the request
    assert not [line for line in lines if "/static/" in line], lines
    assert not [line for line in lines if line.lstrip().startswith("{")]  # text, not JSON
    # Nothing but those lines and warnings: no INFO chatter of gunicorn or the app.
    assert all(" GET " in line or "WARNING" in line or "ERROR" in line for line in lines), lines


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_celery_worker_logs_json_lines_with_the_task_id(process_env, tmp_path):
    from apps.accounts.tasks import sessions_clear

    sent = {}
    args = [sys.executable, "-m", "celery", "-A", "compliance_portal", "--quiet", "worker", "--pool", "solo",
            "--queues", "default", "--without-mingle", "--without-gossip", "--hostname", f"logtest-{os.getpid()}@%h"]

    def send_and_wait():
        sent["id"] = sessions_clear.delay().id
        wait_until(lambda: f'"task_id": "{sent["id"]}"' in (tmp_path / "worker.log").read_text()
                   and "succeeded" in (tmp_path / "worker.log").read_text())

    lines = _run_until(args, process_env, tmp_path / "worker.log", lambda text: "ready" in text, then=send_and_wait)
    # No banner, no plain-text line; but Celery print()s this one on SIGTERM, past any logging set-up.
    records = _json_lines([line for line in lines if line != "worker: Warm shutdown (MainProcess)"])
    done = [r for r in records if r["task_id"] == sent["id"] and "succeeded" in r["message"]]
    assert done and done[0]["task_name"] == "apps.accounts.tasks.sessions_clear"


def test_celery_beat_logs_json_lines(process_env, tmp_path):
    # The in-memory scheduler: what is tested is the log format, not the shelve file (whose dbm open
    # once failed under load and logged its own traceback).
    args = [sys.executable, "-m", "celery", "-A", "compliance_portal", "--quiet", "beat",
            "--scheduler", "celery.beat:Scheduler"]
    env = {**process_env, "PORTAL_VAR_DIR": str(tmp_path)}
    lines = _run_until(args, env, tmp_path / "beat.log", lambda text: "Sending due task" in text)
    records = _json_lines(lines)
    assert any(r["logger"] == "celery.beat" for r in records)


# ---------------------------------------------------------------- issue 23: `make run`'s console
@pytest.fixture
def quiet_console(settings):
    from logging.config import dictConfig

    from compliance_portal.logging import logging_config

    dictConfig(logging_config(fmt="text", level="INFO", quiet=True))
    yield
    dictConfig(settings.LOGGING)


def test_the_quiet_console_drops_font_subsetting_layout_steps_and_beat_ticks(quiet_console):
    for chatter in ("fontTools.subset", "fontTools.ttLib", "weasyprint.progress", "celery.beat",
                    "celery.worker.strategy", "celery.app.trace", "gunicorn.error", "apps.ingest.dispatch"):
        assert not logging.getLogger(chatter).isEnabledFor(logging.INFO), chatter
    for wanted in ("portal.access", "portal.tasks"):
        assert logging.getLogger(wanted).isEnabledFor(logging.INFO), wanted
    assert logging.getLogger("apps.packs.services").isEnabledFor(logging.WARNING)


def test_font_subsetting_and_layout_steps_stay_out_of_every_profile(settings):
    # Not only the dev console: these are hundreds of lines per pack in any log.
    for chatter in ("fontTools", "weasyprint.progress"):
        assert settings.LOGGING["loggers"][chatter]["level"] == "WARNING"


def test_a_slow_task_gets_one_line_and_a_quick_one_none(settings, caplog):
    from types import SimpleNamespace

    from compliance_portal.celery import _task_clock_start, _task_clock_stop

    task = SimpleNamespace(name="apps.packs.tasks.pack_build")
    caplog.set_level(logging.INFO, logger="portal.tasks")
    settings.PORTAL_SLOW_TASK_SECONDS = 3600  # nothing here takes an hour
    _task_clock_start(task_id="quick")
    _task_clock_stop(task_id="quick", task=task, state="SUCCESS")
    assert not caplog.records
    settings.PORTAL_SLOW_TASK_SECONDS = 0  # everything takes longer than nothing
    _task_clock_start(task_id="slow")
    _task_clock_stop(task_id="slow", task=task, state="SUCCESS")
    assert [r.getMessage().split(" took ")[0] for r in caplog.records] == ["task apps.packs.tasks.pack_build"]
