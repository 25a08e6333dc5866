"""Issue 25: the per-source rate limit without a Redis round trip per accept. A busy process reserves
its requests of the window in chunks; admissions, summed over every process, never pass the limit."""

from __future__ import annotations

import random
import time

import pytest
import redis

from apps.ingest import auth


@pytest.fixture
def conn(settings):
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def round_trips(settings, monkeypatch):
    """How many INCR/INCRBY calls reached Redis."""
    calls = []
    client = auth._redis(settings.REDIS_URL)
    incrby = client.incrby
    monkeypatch.setattr(client, "incrby", lambda key, amount=1: (calls.append(amount), incrby(key, amount))[1])
    return calls


def _source_id() -> int:
    return random.randrange(10**12, 10**13)  # no source of this or an earlier run has it


def _admitted(processes: list[auth.RateReservations], source_id: int, limit: int, requests: int) -> int:
    now = time.time()
    period = 3600
    start = now - (now % period) + 1  # one window, whatever the clock says
    return sum(
        processes[n % len(processes)].wait(source_id, limit, period, start + n / 1e6) is None for n in range(requests)
    )


def test_a_busy_process_takes_its_requests_from_redis_in_chunks(round_trips):
    process = auth.RateReservations()

    assert _admitted([process], _source_id(), 6400, 5000) == 5000
    # Chunks grow 1, 2, 4… up to 1/64 of the limit (100): about 5000 / 100 round trips, not 5000.
    assert len(round_trips) < 80 and max(round_trips) == 100


def test_admissions_over_every_process_never_pass_the_limit(round_trips):
    processes = [auth.RateReservations() for _ in range(3)]
    source_id = _source_id()

    admitted = _admitted(processes, source_id, 6400, 8000)

    # Never more than the limit; at most each process's unused chunk below it (1/64 of the limit each).
    assert 6400 - 3 * 100 <= admitted <= 6400
    # Past the limit, each request still asks Redis (a refused chunk grants nothing to hold).
    refused_from = len(round_trips)
    assert _admitted(processes, source_id, 6400, 10) == 0
    assert len(round_trips) == refused_from + 10


def test_a_small_limit_is_counted_request_by_request(round_trips):
    process = auth.RateReservations()

    assert _admitted([process], _source_id(), 5, 8) == 5
    assert round_trips == [1] * 8


def test_a_new_window_starts_from_nothing_held(round_trips, conn):
    process = auth.RateReservations()
    source_id = _source_id()
    period = 60
    first = (time.time() // period) * period + 1
    admitted = sum(process.wait(source_id, 64 * 8, period, first + n / 1e6) is None for n in range(200))
    assert admitted == 200
    held_before = len(round_trips)

    # The next window: what the process held of the last one is not used.
    wait = process.wait(source_id, 64 * 8, period, first + period)
    assert wait is None and len(round_trips) == held_before + 1 and round_trips[-1] == 1
    assert int(conn.get(f"portal:ingest-rate:{source_id}:{int((first + period) // period)}")) == 1
