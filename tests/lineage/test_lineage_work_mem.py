"""Issue 20 (speed): a statement that walks a whole graph (the NDJSON stream, a first page, the kept
walk) runs with a larger work_mem, set for its own transaction only (SET LOCAL), so its sorts and
aggregates stay in memory; the stream's cursor is declared WITH HOLD in that transaction and read
after it committed."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection

from apps.evidence.lineage import walk as lineage
from apps.evidence.lineage.stream import lineage_walk_ndjson
from tests.lineage.graphs import forget_kept_walks, random_dag


def _work_mem() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        return cursor.fetchone()[0]


# transaction=True: SET LOCAL lasts to the end of the outermost transaction (a test's, here).
@pytest.mark.django_db(transaction=True)
def test_a_walking_statement_raises_work_mem_for_its_own_transaction_only():
    before = _work_mem()
    assert before != lineage.WALK_WORK_MEM

    with lineage.walk_work_mem():
        assert _work_mem() == lineage.WALK_WORK_MEM

    assert _work_mem() == before


@pytest.mark.django_db
def test_the_stream_and_the_kept_walk_run_under_the_walk_work_mem(make_graph, admin_user, client, monkeypatch):
    ids = make_graph(40, random_dag(3, n=40, m=80))
    client.force_login(admin_user)
    url = f"/api/v1/artifacts/{ids[0]}/lineage"
    query = {"direction": "downstream", "depth": 4, "limit": 3}
    second = client.get(url, query).json()["next"].split("after=", 1)[1].split("&", 1)[0].replace("%3A", ":")
    forget_kept_walks()
    # A setting PostgreSQL refuses shows that each of these statements sets it.
    monkeypatch.setattr(lineage, "WALK_WORK_MEM", "lots")
    with pytest.raises(DatabaseError, match="work_mem"):
        b"".join(client.get(url, {"direction": "downstream", "format": "ndjson"}).streaming_content)
    with pytest.raises(DatabaseError, match="work_mem"):
        client.get(url, {**query, "after": second})  # a later page: the walk kept for it is walked now
    monkeypatch.undo()
    assert client.get(url, {**query, "after": second}).status_code == 200


# transaction=True: in autocommit, as in a request, the stream's cursor outlives the transaction
# that declared it (WITH HOLD); inside a test's transaction that would go unchecked.
@pytest.mark.django_db(transaction=True)
def test_the_stream_is_read_after_its_transaction_committed_in_small_chunks(make_graph, admin_user, client):
    ids = make_graph(150, random_dag(7, n=150, m=500))
    client.force_login(admin_user)
    query = {"direction": "downstream", "depth": 6, "form": "compact", "limit": 5000}
    page = client.get(f"/api/v1/artifacts/{ids[0]}/lineage", query).json()
    assert connection.get_autocommit()

    chunks = list(
        lineage_walk_ndjson(user=admin_user, artifact_id=ids[0], direction="downstream", depth=6, chunk_size=7)
    )

    lines = [json.loads(line) for chunk in chunks for line in chunk.decode().splitlines()]
    assert lines == page["nodes"] and len(chunks) > 5
    assert _work_mem() != lineage.WALK_WORK_MEM


@pytest.mark.django_db(transaction=True)
def test_a_stream_left_halfway_closes_its_cursor(make_graph, admin_user):
    ids = make_graph(150, random_dag(9, n=150, m=500))
    stream = lineage_walk_ndjson(user=admin_user, artifact_id=ids[0], direction="downstream", depth=6, chunk_size=5)
    first = next(stream)
    assert len(first.decode().splitlines()) == 5

    stream.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        assert cursor.fetchone()[0] == 0
