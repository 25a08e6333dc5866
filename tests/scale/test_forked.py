"""devtools/scale/forked.py: generator jobs in forked processes, each committing on its own connection."""

from __future__ import annotations

import os
import signal

import pytest
from django.db import connection, transaction

from devtools.scale.forked import ForkedJobFailed, forked_map

PROBE = "scale_forked_probe"


@pytest.fixture
def probe_table():
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {PROBE} (job int PRIMARY KEY, pid int NOT NULL)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {PROBE}")


def _write(job: int) -> tuple[int, int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {PROBE} (job, pid) VALUES (%s, %s)", [job, os.getpid()])  # noqa: S608
    return job * job, os.getpid()


def _rows() -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT job, pid FROM {PROBE}")  # noqa: S608
        return dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_jobs_run_in_forked_processes_that_commit_and_answer_in_job_order(probe_table):
    results = forked_map(_write, 7, processes=2)
    assert [square for square, _pid in results] == [i * i for i in range(7)]  # in job order
    pids = {pid for _square, pid in results}
    assert len(pids) == 2 and os.getpid() not in pids  # two children, not this process
    # Job k went to child k % 2, and each child's commits are visible here once it is done.
    assert _rows() == {i: results[i % 2][1] for i in range(7)}
    # This process's own connection was closed before forking, and opens again.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def _fails_on_three(job: int) -> int:
    _write(job)
    if job == 3:
        raise ValueError("job 3 found a hole")
    return job


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_fails_the_call_with_the_childs_traceback(probe_table):
    with pytest.raises(ForkedJobFailed, match="ValueError: job 3 found a hole"):
        forked_map(_fails_on_three, 6, processes=2)
    # The other child's jobs, and the failing child's jobs before the failure, were committed; the
    # failing child stopped at its failure (job 5 never ran).
    assert set(_rows()) == {0, 1, 2, 3, 4}


@pytest.mark.django_db
def test_inside_a_transaction_the_jobs_run_here(probe_table):
    """A test's transaction: a child's connection would see none of its rows, nor it the child's."""
    results = forked_map(_write, 4, processes=2)
    assert {pid for _square, pid in results} == {os.getpid()}
    assert set(_rows()) == {0, 1, 2, 3}


def _killed_on_two(job: int) -> int:
    if job == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer, or an operator
    return job


@pytest.mark.django_db(transaction=True)
def test_a_child_killed_before_reporting_fails_the_call():
    with pytest.raises(ForkedJobFailed, match="exited with status .* before reporting"):
        forked_map(_killed_on_two, 4, processes=2)
