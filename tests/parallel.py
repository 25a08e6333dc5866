"""The suite in parallel processes (pytest-xdist, `make test` runs `-n 2 --dist loadgroup`).

Each xdist worker process is a whole test session of its own, and shares nothing it writes with the
other: pytest-django already gives it its own test database (`test_portal_gw0`, `test_portal_gw1`);
this plugin gives it, before Django reads its settings,

- its own Redis database number (cache, Celery broker and the control broadcasts: kombu prefixes
  them with the database number), so one worker's `flushdb` or queued tasks never touch the other's;
  its session Celery worker (tests/conftest.py) inherits that URL and the worker's test database;
- its own var directory (`PORTAL_VAR_DIR/gwN`: blobs, packs, media, mail, heartbeats);
- its own fault stack ports (`PORTAL_FAULT_LANE`, read by scripts/services.sh).

Live servers, gunicorn, registries and MLflow bind free ports, and Chromium runs in a fresh
temporary profile per launch, so those need nothing here.

It also keeps what must stay together in one process: every test is put in the xdist group of its
module (module-scoped worlds and workers are set up once), the fault tests in one group for the
whole package (its package-scoped fault stack), and the two modules of the session's dev-profile
static files in one. Loaded with `-p tests.parallel` (pytest.ini): the environment must be set
before pytest-django sets Django up, earlier than any conftest.py is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
# "gw0", "gw1", … in an xdist worker process (set by xdist before the session starts); "" otherwise.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
# scripts/services.sh has three port pairs per slot for the fault stack (lanes 0-2).
MAX_WORKERS = 3
DEFAULT_REDIS_URL = "redis://127.0.0.1:26379/0"
# Modules that must run in the same process as another one: group name -> path prefixes.
GROUPS = {
    "faults": ("tests/faults/",),  # the package-scoped fault stack, started once
    "dev-static": ("tests/dashboard/test_static_assets.py", "tests/test_logging.py"),  # dev_static_root
}


def worker_index(worker: str = WORKER) -> int | None:
    """0 for gw0, 1 for gw1, …; None outside an xdist worker."""
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def redis_url_for(url: str, index: int) -> str:
    """The same Redis server, database number base + 1 + index (base: the URL's own, 0 if none)."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + 1 + index}"))


def isolate(environ: dict, worker: str) -> None:
    """Point `environ` at worker `worker`'s own Redis database, var directory and fault ports."""
    index = worker_index(worker)
    if index is None:
        return
    if index >= MAX_WORKERS:
        raise pytest.UsageError(f"at most {MAX_WORKERS} xdist workers (-n {MAX_WORKERS}): the fault stack "
                                f"has {MAX_WORKERS} port pairs per slot in scripts/services.sh")
    environ["REDIS_URL"] = redis_url_for(environ.get("REDIS_URL") or DEFAULT_REDIS_URL, index)
    if environ.get("CELERY_BROKER_URL"):
        environ["CELERY_BROKER_URL"] = redis_url_for(environ["CELERY_BROKER_URL"], index)
    var = Path(environ.get("PORTAL_VAR_DIR") or ROOT / "var") / worker
    var.mkdir(parents=True, exist_ok=True)
    environ["PORTAL_VAR_DIR"] = str(var)
    environ["PORTAL_MEDIA_ROOT"] = str(var / "media")
    for name in ("PORTAL_EVIDENCE_ROOT", "PORTAL_PACK_ROOT"):
        environ.pop(name, None)  # under PORTAL_VAR_DIR then (settings.py)
    environ["PORTAL_FAULT_LANE"] = str(index)


isolate(os.environ, WORKER)


def group_of(nodeid: str) -> str:
    """The xdist group of a test: a shared group of GROUPS, else its module's path."""
    path = nodeid.split("::", 1)[0]
    for group, prefixes in GROUPS.items():
        if path.startswith(prefixes):
            return group
    return path


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup`: put each test in its group before xdist reads the groups, and once every
    other hook has ordered the tests (the fast lane, then the slow lane), move the longest groups
    (START_FIRST) to the front. xdist hands out groups in that order (scripts/test.sh passes
    --no-loadscope-reorder): the longest groups start at once while the other process runs the rest,
    instead of running alone at the end."""
    if getattr(config.option, "dist", "no") == "loadgroup":
        for item in items:
            item.add_marker(pytest.mark.xdist_group(group_of(item.nodeid)))
    result = yield
    if getattr(config.option, "dist", "no") == "loadgroup":
        items.sort(key=lambda item: _start_rank(group_of(item.nodeid)))
    return result


# The longest groups of the slow lane (`.ci/run`'s --durations: the fault stack ~120 s, the collected static
# files ~90 s, the axe sweep ~90 s, the pack worker kills ~50 s, the API fuzz ~35 s) are handed out first, so
# the lane ends with short modules on both processes instead of one long module alone.
START_FIRST = (
    "faults",
    "dev-static",
    "tests/browser/test_accessibility.py",
    "tests/packs/test_pack_worker.py",
    "tests/security/test_api_fuzz.py",
)


def _start_rank(group: str) -> int:
    return START_FIRST.index(group) if group in START_FIRST else len(START_FIRST)
