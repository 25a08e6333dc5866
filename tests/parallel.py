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

It also keeps what must stay together in one process (GroupScheduling, for `--dist loadgroup`): every
test is in the group of its module (module-scoped worlds and workers are set up once), the fault tests
in one group for the whole package (its package-scoped fault stack), the demo package in one (its
package-scoped seeded demo), the two modules of the session's dev-profile static files in one, and the two
verifier modules that read one built pack in one. Loaded with
`-p tests.parallel` (pytest.ini): the environment must be set before pytest-django sets Django up,
earlier than any conftest.py is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from xdist.scheduler import LoadScopeScheduling

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
    "demo": ("tests/demo/",),  # the package-scoped seeded demo (tests/demo/conftest.py), seeded once
    # the verifiers, the result messages and the working paper read one built pack (pack_zip in
    # tests/packs/conftest.py), built once per process
    "built-pack": ("tests/packs/test_verify_pack.py", "tests/packs/test_standalone_verifier.py",
                   "tests/packs/test_pack_result_messages.py", "tests/packs/test_pack_working_paper.py"),
    # one MLflow server for both modules (mlflow_url in tests/ingest/conftest.py)
    "mlflow": ("tests/ingest/test_connectors_mlflow.py", "tests/ingest/test_connectors_mlflow_details.py"),
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


class GroupScheduling(LoadScopeScheduling):
    """`--dist loadgroup` with the groups of group_of(), read from the node ids the workers collected.

    xdist's own loadgroup (3.8) learns a test's group from an `@group` suffix its workers append to the node
    id, which pytest 9.2's structured node ids no longer let it set (pytest-dev/pytest-xdist#1386): every test
    silently became a group of its own, so modules were split across processes and their module-scoped
    worlds, workers and the fault stack were set up in each."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Schedule `--dist loadgroup` with GroupScheduling (the controller asks; xdist's own is the fallback)."""
    if config.getvalue("dist") == "loadgroup":
        return GroupScheduling(config, log)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup`, once every other hook has ordered the tests (the fast lane, then the slow
    lane), move the longest groups (START_FIRST) to the front. The workers collect, and xdist hands out
    groups in the order of their collection (scripts/test.sh passes --no-loadscope-reorder): the longest
    groups start at once while the other process runs the rest, instead of running alone at the end."""
    result = yield
    if _loadgroup(config):
        items.sort(key=lambda item: _start_rank(group_of(item.nodeid)))
    return result


def _loadgroup(config) -> bool:
    """`--dist loadgroup`, as the controller sees it or as an xdist worker does: the workers collect the tests,
    and xdist resets their `dist` option to "no" and sets `loadgroup` instead (xdist/remote.py)."""
    return getattr(config.option, "dist", "no") == "loadgroup" or bool(getattr(config.option, "loadgroup", False))


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
