"""Call records off the caller's path (issue 13): the last turn queues the record in Redis and a
writer writes batches to SQL; nothing is lost when the database is down or a writer dies
between its commit and its trim; one writer at a time across processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ivr.adapters.record_queue import (
    DEAD_KEY,
    INDEX_KEY,
    QUEUE_KEY,
    WRITER_KEY,
    QueuedRecorder,
    from_json,
    to_json,
)
from ivr.adapters.records_sql import SqlRecorder
from ivr.engine.records import CallRecord, PathStep


def record(n: int, outcome: str = "Completed") -> CallRecord:
    return CallRecord(
        call_sid=f"CA{n:032x}",
        plan_id="p",
        plan_version="v1",
        clid="+447700900123",
        ddi="+442071230001",
        started_at=f"2026-12-01T10:{n % 60:02d}:00+00:00",
        ended_at=f"2026-12-01T10:{n % 60:02d}:30+00:00",
        outcome=outcome,
        end_status="completed",
        path=(PathStep("welcome", "next", "2026-12-01T10:00:01+00:00", "p"),),
        missing=("Balance (no match for account.total_due)",),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/calls.sqlite3"
    return str(request.getfixturevalue("postgresql_url"))


@pytest.fixture
def idle(tmp_path: Path, redis_client: redis.Redis) -> Iterator[QueuedRecorder]:
    """A queue over a SQLite file with no writer thread: the test calls flush."""
    queued = QueuedRecorder(
        SqlRecorder(f"sqlite:///{tmp_path}/calls.sqlite3"), redis_client, start=False
    )
    yield queued
    queued.close()


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_record_survives_the_round_trip_through_the_queue() -> None:
    original = record(7)
    assert from_json(to_json(original)) == original


def test_records_are_queued_then_written_in_batches(
    database_url: str, redis_client: redis.Redis
) -> None:
    sql = SqlRecorder(database_url)
    queued = QueuedRecorder(sql, redis_client)
    try:
        for n in range(450):
            queued.record(record(n))
        # found at once, queued or written
        assert queued.find(record(449).call_sid) == record(449)
        wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0)
        assert sql.find(record(0).call_sid) == record(0)
        assert len(sql.recent(1000)) == 450
    finally:
        queued.close()


def test_a_second_record_of_a_call_replaces_the_first(
    database_url: str, redis_client: redis.Redis
) -> None:
    sql = SqlRecorder(database_url)
    queued = QueuedRecorder(sql, redis_client, start=False)
    try:
        queued.record(record(1, "Abandoned"))
        queued.record(record(1, "PaymentTaken"))  # a transfer's late action, in one batch
        assert queued.find(record(1).call_sid).outcome == "PaymentTaken"
        assert queued.flush() == 2
        queued.record(record(1, "Delivered"))  # and again, in a later batch
        queued.flush()
        assert sql.find(record(1).call_sid).outcome == "Delivered"
        assert len(sql.recent(10)) == 1
    finally:
        queued.close()


def test_nothing_is_lost_while_the_database_is_down(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    url = f"sqlite:///{tmp_path}/calls.sqlite3"
    sql = SqlRecorder(url)
    queued = QueuedRecorder(sql, redis_client, start=False)
    try:
        for n in range(5):
            queued.record(record(n))
        (tmp_path / "calls.sqlite3").unlink()  # the database goes away under the writer
        (tmp_path / "calls.sqlite3").mkdir()  # and cannot be opened again
        sql.db.dispose()
        assert queued.flush() == 0
        assert redis_client.llen(QUEUE_KEY) == 5  # still queued
        (tmp_path / "calls.sqlite3").rmdir()
        sql2 = SqlRecorder(url)  # the database is back (the tables made again)
        queued.sql = sql2
        assert queued.flush() == 5
        assert redis_client.llen(QUEUE_KEY) == 0
        assert len(sql2.recent(10)) == 5
    finally:
        queued.close()


def test_one_writer_at_a_time_and_a_stale_writer_never_trims(
    idle: QueuedRecorder, redis_client: redis.Redis
) -> None:
    queued, sql = idle, idle.sql
    queued.record(record(1))
    redis_client.set(WRITER_KEY, "another-worker", px=60_000)
    assert queued.flush() == 0  # another worker holds the writer lock
    assert redis_client.llen(QUEUE_KEY) == 1
    redis_client.delete(WRITER_KEY)

    # A writer whose lease runs out before its commit rolls back and trims nothing: it
    # can never overwrite what the next writer wrote (a newer record of the same call).
    real_write = sql.write_many

    def lease_lapses(records: list[CallRecord], *, before_commit=None) -> None:
        redis_client.set(WRITER_KEY, "the-next-writer")  # the lease expired and was taken
        real_write(records, before_commit=before_commit)

    sql.write_many = lease_lapses  # type: ignore[method-assign]
    assert queued.flush() == 0
    assert redis_client.llen(QUEUE_KEY) == 1
    assert sql.recent(10) == []  # rolled back
    sql.write_many = real_write  # type: ignore[method-assign]
    redis_client.delete(WRITER_KEY)
    assert queued.flush() == 1
    assert len(sql.recent(10)) == 1


def test_writers_in_many_threads_write_each_record_once(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    sql = SqlRecorder(f"sqlite:///{tmp_path}/calls.sqlite3")
    writers = [QueuedRecorder(sql, redis_client) for _ in range(4)]  # four workers' writers
    try:

        def call_ends(base: int) -> None:
            for n in range(base, base + 100):
                writers[n % 4].record(record(n))

        threads = [threading.Thread(target=call_ends, args=(i * 100,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_until(lambda: redis_client.llen(QUEUE_KEY) == 0)
        assert len(sql.recent(1000)) == 400
    finally:
        for w in writers:
            w.close()


def test_while_redis_is_down_a_record_is_written_directly(tmp_path: Path) -> None:
    sql = SqlRecorder(f"sqlite:///{tmp_path}/calls.sqlite3")
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    queued = QueuedRecorder(sql, down, start=False)
    try:
        queued.record(record(3))
        assert sql.find(record(3).call_sid) == record(3)
        assert queued.find(record(3).call_sid) == record(3)
    finally:
        queued.sql.db.dispose()


def test_an_unreadable_entry_is_set_aside_and_the_others_are_written(
    idle: QueuedRecorder, redis_client: redis.Redis
) -> None:
    queued, sql = idle, idle.sql
    queued.record(record(1))
    redis_client.rpush(QUEUE_KEY, b'{"call_sid": "CAxx", "from a newer version": true}')
    queued.record(record(2))
    assert queued.flush() == 3
    assert {r.call_sid for r in sql.recent(10)} == {record(1).call_sid, record(2).call_sid}
    assert redis_client.lrange(DEAD_KEY, 0, -1) == [
        b'{"call_sid": "CAxx", "from a newer version": true}'
    ]
    assert redis_client.llen(QUEUE_KEY) == 0


def test_find_reads_the_index_not_the_whole_queue(
    idle: QueuedRecorder, redis_client: redis.Redis
) -> None:
    queued = idle
    queued.record(record(1, "Abandoned"))
    queued.record(record(1, "PaymentTaken"))
    assert redis_client.hlen(INDEX_KEY) == 1
    assert queued.find(record(1).call_sid).outcome == "PaymentTaken"
    queued.flush()
    assert redis_client.hlen(INDEX_KEY) == 0  # written: found in the database from now on
    assert queued.find(record(1).call_sid).outcome == "PaymentTaken"


def test_the_last_turn_queues_its_record_in_the_same_step_as_its_write(
    idle: QueuedRecorder, redis_client: redis.Redis, redis_url: str
) -> None:
    from ivr.engine.stores.redis_store import RedisStore

    store = RedisStore.from_url(redis_url)
    queued = idle
    try:
        with store.session(record(5).call_sid) as slot:
            slot.put("{}", 60)
            queued.queue_with(slot, record(5))
            assert redis_client.llen(QUEUE_KEY) == 0  # not before the write
        assert redis_client.lrange(QUEUE_KEY, 0, -1) == [to_json(record(5)).encode()]
        assert queued.find(record(5).call_sid) == record(5)
        with pytest.raises(RuntimeError), store.session(record(6).call_sid) as slot:
            queued.queue_with(slot, record(6))
            raise RuntimeError("the turn failed")  # nothing written, nothing queued
        assert redis_client.llen(QUEUE_KEY) == 1
        assert queued.flush() == 1
    finally:
        store.client.close()
