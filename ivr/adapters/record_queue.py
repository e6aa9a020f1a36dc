"""Call records off the caller's path: the last turn of a call puts its record in a queue in
Redis (one RPUSH, well under a millisecond) and returns; a writer thread in each worker writes
the queue to the SQL database in batches, one writer at a time across the fleet (a Redis lock),
so SQLite sees one writer and PostgreSQL one transaction per batch instead of one per call.

Nothing is lost: a record leaves the queue only after its batch is committed. A worker that
dies between the commit and the trim leaves the batch to be written again (a record of the
same call replaces the first), and one that dies with records queued leaves them to the other
workers, or to itself when it restarts. While the database is down the records wait in Redis
(the outage is logged once when it starts and once when it ends); while Redis is down a record
is written to the database directly.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError

from foundation.outage import Outage
from ivr.adapters.records_sql import SqlRecorder
from ivr.engine.records import CallRecord, PathStep

log = logging.getLogger("ivr.records")

QUEUE_KEY = "ivr:records:queue"
WRITER_KEY = "ivr:records:writer"
BATCH = 200  # records written in one transaction
IDLE_WAIT = 0.5  # seconds a writer sleeps when the queue is empty (a record wakes it at once)
WRITER_LEASE_MS = 30_000  # a writer that dies holding the lock frees it after this

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Trim the written batch only while still the writer (a writer whose lease ran out must not
# trim what the next writer has not written), and extend the lease.
_TRIM = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('ltrim', KEYS[2], tonumber(ARGV[2]), -1)
redis.call('pexpire', KEYS[1], tonumber(ARGV[3]))
return 1
"""


def to_json(record: CallRecord) -> str:
    return json.dumps(record.as_dict(), separators=(",", ":"))


def from_json(text: str | bytes) -> CallRecord:
    raw: dict[str, Any] = json.loads(text)
    return CallRecord(
        **{k: v for k, v in raw.items() if k not in ("path", "missing")},
        path=tuple(PathStep(*step) for step in raw["path"]),
        missing=tuple(raw["missing"]),
    )


class QueuedRecorder:
    """A Recorder whose `record` only queues; see the module's description."""

    def __init__(self, sql: SqlRecorder, client: redis.Redis, *, start: bool = True):
        self.sql = sql
        self.db = sql.db  # the fleet code disposes of inherited connections after a fork
        self.client = client
        self._release = client.register_script(_RELEASE)
        self._trim = client.register_script(_TRIM)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._autostart = start  # False: no writer thread (tests and tools call flush)
        self.outage = Outage(
            "the call records database",
            log,
            "call records kept in the queue",
            "call records wait in Redis and are written when it answers",
        )
        if start:
            self.start()

    # -- the caller's side ---------------------------------------------------------------

    def record(self, record: CallRecord) -> None:
        """Queue `record`; while Redis cannot take it, write it to the database directly (as
        a recorder without a queue does: kept in memory while that is down too)."""
        try:
            self.client.rpush(QUEUE_KEY, to_json(record))
        except redis.RedisError as exc:
            log.warning(
                "[%s] call record queue unavailable (%s): written directly", record.call_sid, exc
            )
            self.sql.record(record)
            return
        if self._autostart:
            self._ensure_writer()  # a worker forked after start gets its own writer here
        self._wake.set()

    def find(self, call_sid: str) -> CallRecord | None:
        """The record of `call_sid`, queued or written."""
        try:
            queued = self.client.lrange(QUEUE_KEY, 0, -1)
        except redis.RedisError:
            return self.sql.find(call_sid)  # what is queued is out of reach: what is written
        marker = f'"call_sid":{json.dumps(call_sid)}'.encode()
        for item in reversed(queued):  # the newest record of a call wins
            if marker in item:
                return from_json(item)
        return self.sql.find(call_sid)

    def recent(self, limit: int = 20, **filters: Any) -> list[CallRecord]:
        self.flush()
        return self.sql.recent(limit, **filters)

    # -- the writer ----------------------------------------------------------------------

    def start(self) -> None:
        """Start this process's writer thread (again in a forked worker)."""
        self._ensure_writer()

    def _ensure_writer(self) -> None:
        import os

        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ivr-record-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wrote = self.flush()
            except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                log.exception("call record writer failed; retrying")
                wrote = 0
            if not wrote:
                self._wake.wait(IDLE_WAIT)
                self._wake.clear()

    def flush(self) -> int:
        """Write what is queued, batch by batch, while holding the fleet's writer lock; the
        number written (0 when another worker holds the lock or the database is down)."""
        token = uuid.uuid4().hex
        try:
            if not self.client.set(WRITER_KEY, token, nx=True, px=WRITER_LEASE_MS):
                return 0
        except redis.RedisError:
            return 0
        written = 0
        try:
            while True:
                batch = self.client.lrange(QUEUE_KEY, 0, BATCH - 1)
                if not batch:
                    break
                try:
                    self.sql.write_many([from_json(item) for item in batch])
                except SQLAlchemyError as exc:
                    self.outage.failed(exc)
                    break
                self.outage.ok()
                still_writer = self._trim(
                    keys=[WRITER_KEY, QUEUE_KEY], args=[token, len(batch), WRITER_LEASE_MS]
                )
                if not still_writer:
                    break  # the lease ran out: the next writer writes these again
                written += len(batch)
        except redis.RedisError as exc:
            log.warning("call record queue unavailable: %s", exc)
        finally:
            try:
                self._release(keys=[WRITER_KEY], args=[token])
            except redis.RedisError:
                pass
        return written

    def retry(self) -> None:
        self._wake.set()

    def queued(self) -> int:
        return int(self.client.llen(QUEUE_KEY))

    def close(self) -> None:
        """Stop the writer after writing what is queued (as far as the database allows)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            self.flush()
        finally:
            self.sql.close()
