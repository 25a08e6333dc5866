"""Independent jobs of a generator step, run in forked processes with database connections of their own.

Most of a large generation is Python building rows (ledger bodies, COPY rows) in one process, with
PostgreSQL working on the other core part of the time. The steps whose chunks are independent (evidence,
control results, the days of the rollups) hand them to `processes` forked children instead: each inherits
what the run has computed so far (copy-on-write), opens its own connection, commits its own transactions
and sends its small results back through a pipe, pickled.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, connections

T = TypeVar("T")


class ForkedJobFailed(RuntimeError):
    """A job failed in a child process; the message holds the child's traceback."""


def processes_for(jobs: int, processes: int) -> int:
    """How many processes forked_map() runs `jobs` jobs in: 1 means here, in this process."""
    if processes < 2 or jobs < 2 or connection.in_atomic_block:
        return 1
    return min(processes, jobs)


def forked_map(fn: Callable[[int], T], jobs: int, *, processes: int) -> list[T]:
    """[fn(0), …, fn(jobs - 1)], computed by `processes` forked children (child k runs jobs k, k + processes, …).

    Runs here, one job after the other, with fewer than two processes or jobs, and inside a transaction
    (a test's): a child's connection would not see the transaction's rows, nor the transaction its. A job
    runs its own transactions; what a failed child committed stays (as a failed chunk of a serial run would)."""
    processes = processes_for(jobs, processes)
    if processes == 1:
        return [fn(i) for i in range(jobs)]
    connections.close_all()  # a child must not share this process's socket
    sys.stdout.flush()
    sys.stderr.flush()
    children = []
    for k in range(processes):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its work is checked through the rows it writes
            os.close(read)
            _child(fn, range(k, jobs, processes), write)
        os.close(write)
        children.append((pid, read))
    results: dict[int, T] = {}
    failures = []
    for pid, read in children:
        with os.fdopen(read, "rb") as pipe:
            payload = pipe.read()
        _pid, status = os.waitpid(pid, 0)
        try:
            kind, value = pickle.loads(payload)  # noqa: S301 - written by our own child, over a pipe
        except Exception:  # noqa: BLE001 - a child that died before writing
            kind, value = "error", f"the child exited with status {status} before reporting"
        if kind == "ok":
            results.update(value)
        else:
            failures.append(value)
    if failures:
        raise ForkedJobFailed("\n".join(failures))
    return [results[i] for i in range(jobs)]


def _child(fn: Callable[[int], T], mine: range, write: int) -> None:  # pragma: no cover - runs in the child
    status = 0
    try:
        payload = pickle.dumps(("ok", [(i, fn(i)) for i in mine]))
    except BaseException:  # noqa: BLE001 - everything is reported to the parent
        payload = pickle.dumps(("error", traceback.format_exc()))
        status = 1
    try:
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
        sys.stdout.flush()
        sys.stderr.flush()
        connections.close_all()
    finally:
        os._exit(status)  # never return into the parent's code (a test runner, a command)
