"""The suite in two processes (tests/parallel.py): each xdist worker writes only to what is its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import parallel

ROOT = Path(__file__).resolve().parent.parent
BASE = {"REDIS_URL": "redis://127.0.0.1:26519/0", "PORTAL_VAR_DIR": "", "PORTAL_EVIDENCE_ROOT": "/shared/blobs"}


def _isolated(worker: str, tmp_path: Path) -> dict:
    environ = {**BASE, "PORTAL_VAR_DIR": str(tmp_path / "var")}
    parallel.isolate(environ, worker)
    return environ


def test_two_workers_get_different_redis_databases_var_directories_and_fault_lanes(tmp_path):
    gw0, gw1 = _isolated("gw0", tmp_path), _isolated("gw1", tmp_path)

    assert (gw0["REDIS_URL"], gw1["REDIS_URL"]) == ("redis://127.0.0.1:26519/1", "redis://127.0.0.1:26519/2")
    assert gw0["PORTAL_VAR_DIR"] == str(tmp_path / "var" / "gw0") and Path(gw0["PORTAL_VAR_DIR"]).is_dir()
    assert gw1["PORTAL_VAR_DIR"] == str(tmp_path / "var" / "gw1")
    assert gw0["PORTAL_MEDIA_ROOT"] != gw1["PORTAL_MEDIA_ROOT"]
    assert (gw0["PORTAL_FAULT_LANE"], gw1["PORTAL_FAULT_LANE"]) == ("0", "1")
    # A blob root shared by both would be each worker's own var directory's instead.
    assert "PORTAL_EVIDENCE_ROOT" not in gw0 and "PORTAL_EVIDENCE_ROOT" not in gw1


def test_a_serial_session_keeps_the_environment_it_was_given(tmp_path):
    environ = {**BASE, "PORTAL_VAR_DIR": str(tmp_path)}
    parallel.isolate(environ, "")
    assert environ == {**BASE, "PORTAL_VAR_DIR": str(tmp_path)}


def test_more_workers_than_the_fault_stack_has_ports_for_is_refused(tmp_path):
    with pytest.raises(pytest.UsageError, match="at most 3"):
        _isolated("gw3", tmp_path)


def test_a_broker_url_of_its_own_moves_to_the_workers_database_too(tmp_path):
    environ = {**BASE, "PORTAL_VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://127.0.0.1:26519/4"}
    parallel.isolate(environ, "gw1")
    assert environ["CELERY_BROKER_URL"] == "redis://127.0.0.1:26519/6"


def test_each_module_is_one_group_and_the_fault_and_demo_packages_and_static_modules_share_one():
    assert parallel.group_of("tests/ledger/test_checkpoint.py::test_x[1]") == "tests/ledger/test_checkpoint.py"
    assert parallel.group_of("tests/faults/test_redis_outage.py::test_a") == "faults"
    assert parallel.group_of("tests/faults/test_worker_killed.py::test_b") == "faults"
    assert parallel.group_of("tests/test_logging.py::test_c") == parallel.group_of(
        "tests/dashboard/test_static_assets.py::test_d") == "dev-static"
    assert parallel.group_of("tests/demo/test_engagements.py::t") == parallel.group_of(
        "tests/demo/test_programme.py::t") == "demo"


def _fault_env(lane: str) -> dict:
    env = {**os.environ, "PORTAL_SLOT": "13", "PORTAL_FAULT_LANE": lane}
    out = subprocess.run([str(ROOT / "scripts" / "services.sh"), "env", "fault"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def test_each_fault_lane_has_its_own_postgres_and_redis_ports_and_data():
    lanes = [_fault_env(lane) for lane in ("0", "1", "2")]
    for key in ("DATABASE_URL", "REDIS_URL", "PORTAL_VAR_DIR"):
        assert len({lane[key] for lane in lanes}) == 3, key
    test = subprocess.run([str(ROOT / "scripts" / "services.sh"), "env", "test"], check=True, text=True,
                          env={**os.environ, "PORTAL_SLOT": "13"}, capture_output=True).stdout
    # Never the ports of the shared test services.
    assert not {lane["DATABASE_URL"] for lane in lanes} & set(test.splitlines()[0:1])


@pytest.mark.skipif(not parallel.WORKER, reason="only in an xdist worker")
def test_this_worker_runs_on_its_own_database_redis_database_and_var_directory(db, settings):
    from django.db import connection

    assert connection.settings_dict["NAME"].endswith(f"_{parallel.WORKER}")
    assert settings.REDIS_URL.endswith(f"/{parallel.worker_index() + 1}")
    assert settings.CELERY_BROKER_URL == settings.REDIS_URL
    assert Path(settings.VAR_DIR).name == parallel.WORKER
    assert Path(settings.STORAGES["evidence"]["OPTIONS"]["location"]).parent.name == parallel.WORKER


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def _modifyitems(dist: str, nodeids: list[str], *, in_worker: bool = False) -> list[_Item]:
    """The hook as an xdist controller (`--dist`) or, with `in_worker`, as a worker process sees its options:
    xdist's worker resets `dist` to "no" and says `loadgroup` instead (xdist/remote.py); the workers collect."""
    option = SimpleNamespace(dist="no", loadgroup=dist == "loadgroup") if in_worker else SimpleNamespace(dist=dist)
    config = SimpleNamespace(option=option)
    items = [_Item(nodeid) for nodeid in nodeids]
    hook = parallel.pytest_collection_modifyitems(config, items)
    next(hook)  # the other hooks would order the items here
    with pytest.raises(StopIteration):
        hook.send(None)
    return items


def test_the_longest_groups_are_handed_out_first_in_their_order_and_the_rest_keep_theirs():
    items = _modifyitems("loadgroup", [
        "tests/a/test_a.py::t1", "tests/security/test_api_fuzz.py::t2", "tests/test_logging.py::t3",
        "tests/b/test_b.py::t4", "tests/faults/test_f.py::t5", "tests/browser/test_accessibility.py::t6"])

    assert [item.nodeid for item in items] == [
        "tests/faults/test_f.py::t5", "tests/test_logging.py::t3", "tests/browser/test_accessibility.py::t6",
        "tests/security/test_api_fuzz.py::t2", "tests/a/test_a.py::t1", "tests/b/test_b.py::t4"]


def test_an_xdist_worker_process_under_loadgroup_orders_what_it_collects():
    """xdist's workers collect the tests and see `dist` as "no" (the order was never applied there)."""
    items = _modifyitems("loadgroup", ["tests/a/test_a.py::t1", "tests/faults/test_f.py::t2"], in_worker=True)

    assert [item.nodeid for item in items] == ["tests/faults/test_f.py::t2", "tests/a/test_a.py::t1"]


def test_a_serial_session_keeps_its_order():
    items = _modifyitems("no", ["tests/a/test_a.py::t1", "tests/faults/test_f.py::t2"])
    assert [item.nodeid for item in items] == ["tests/a/test_a.py::t1", "tests/faults/test_f.py::t2"]


RECORDING_TEST = """
import os

def _record(name):
    with open(os.environ["RECORD"], "a") as out:
        out.write(f"{__name__.rsplit('.', 1)[-1]}.{name} {os.environ['PYTEST_XDIST_WORKER']}\\n")

""" + "".join(f"def test_{n}():\n    _record('{n}')\n\n" for n in range(4))


def test_under_loadgroup_each_module_and_the_fault_package_run_whole_in_one_process(tmp_path):
    """The suite's scheduler, as `make test` runs it, on a tree of its own: with pytest 9.2, xdist's own
    loadgroup handed out every test alone, and this test saw modules split across both processes."""
    modules = {"tests/a/test_a.py": "tests/a/test_a.py", "tests/b/test_b.py": "tests/b/test_b.py",
               "tests/faults/test_f1.py": "faults", "tests/faults/test_f2.py": "faults"}
    for path in modules:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(RECORDING_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    record = tmp_path / "record.txt"
    # Only xdist and the suite's plugin: the other installed plugins (Django, Hypothesis, Playwright, …) would
    # only cost start-up time in three processes.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RECORD": str(record), "PORTAL_VAR_DIR": str(tmp_path / "var"),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist.plugin", "-p", "tests.parallel", "-p", "no:cacheprovider",
         "--import-mode=importlib", "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder", "-q", *modules],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    workers: dict[str, set[str]] = {}
    for line in record.read_text().splitlines():
        test, worker = line.split()
        module = next(path for path in modules if Path(path).stem == test.split(".")[0])
        workers.setdefault(modules[module], set()).add(worker)
    assert set(workers) == {"tests/a/test_a.py", "tests/b/test_b.py", "faults"}
    assert all(len(ran_in) == 1 for ran_in in workers.values()), workers
    assert sum(1 for _ in record.read_text().splitlines()) == 16
