"""Call records off the caller's path: the last turn of a call puts its record in a queue in
Redis in the same step as its session write (the Redis store's unlock script pushes it: no round
trip of its own) and answers; a writer thread in each worker writes the queue to the SQL
database in batches, one writer at a time across the fleet (a Redis lease), so SQLite sees one
writer and PostgreSQL one transaction per batch instead of one per call.

Nothing is lost: a record leaves the queue only after its batch is committed. A worker that
dies between the commit and the trim leaves the batch to be written again (a record of the
same call replaces the first), and one that dies with records queued leaves them to the other
workers, or to itself when it restarts. While the database is down the records wait in Redis
(the outage is logged once when it starts and once when it ends); while Redis is down a record
is written to the database directly.

A fleet may run a dedicated writer (`ivr write-records`, `run_dedicated`): while its heartbeat
is in Redis the workers' writer threads stand by, so the writing (JSON, SQL, commits) never
competes with a turn for a worker's CPU and interpreter lock; when it stops, or its heartbeat
lapses, the workers write again within DEDICATED_TTL_MS.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

import redis
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from foundation.outage import Outage
from ivr.adapters.records_sql import SqlRecorder
from ivr.engine.records import CallRecord
from ivr.engine.stores.base import RECORDS_INDEX_KEY, RECORDS_QUEUE_KEY, Slot

log = logging.getLogger("ivr.records")

QUEUE_KEY = RECORDS_QUEUE_KEY
INDEX_KEY = RECORDS_INDEX_KEY  # call sid → its newest queued record (find without a scan)
DEAD_KEY = "ivr:records:unwritable"  # entries no database write accepts, kept for a person
WRITER_KEY = "ivr:records:writer"
BATCH = 200  # records written in one transaction
IDLE_WAIT = 0.25  # seconds between a writer's looks at an empty queue
SETTLE_WAIT = 1.0  # seconds a read waits for another writer to write the queue out
WRITER_LEASE_MS = 30_000  # a writer that dies holding the lock frees it after this
DEDICATED_KEY = "ivr:records:dedicated"  # a dedicated writer is alive (its heartbeat)
DEDICATED_TTL_MS = 5_000  # the workers write again this long after a dedicated writer stops
DEDICATED_BEAT = 1.0  # seconds between a dedicated writer's heartbeats (and between batches)
STANDBY_WAIT = 1.0  # seconds between a standing-by worker writer's looks at the heartbeat

# Queue a record and index it by call, in one round trip.
_PUSH = """
redis.call('rpush', KEYS[1], ARGV[2])
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Trim the written batch only while still the writer (a writer whose lease ran out must not
# trim what the next writer has not written), extend the lease, and drop the index entries of
# the calls written (unless a newer record of the call was queued since).
_TRIM = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('ltrim', KEYS[2], tonumber(ARGV[2]), -1)
redis.call('pexpire', KEYS[1], tonumber(ARGV[3]))
for i = 4, #ARGV, 2 do
  if redis.call('hget', KEYS[3], ARGV[i]) == ARGV[i + 1] then
    redis.call('hdel', KEYS[3], ARGV[i])
  end
end
return 1
"""


def to_json(record: CallRecord) -> str:
    return json.dumps(record.as_dict(), separators=(",", ":"))


def from_json(text: str | bytes) -> CallRecord:
    return CallRecord.from_dict(json.loads(text))


class LeaseLost(Exception):
    """The writer's lease ran out before its commit: the batch is left to the next writer."""


class QueuedRecorder:
    """A Recorder whose `record` only queues; see the module's description. The writer thread
    starts in the process that records (a gunicorn worker, never a --preload master)."""

    def __init__(self, sql: SqlRecorder, client: redis.Redis, *, start: bool = True):
        self.sql = sql
        self.db = sql.db  # the fleet code disposes of inherited connections after a fork
        self.client = client
        self._push = client.register_script(_PUSH)
        self._release = client.register_script(_RELEASE)
        self._trim = client.register_script(_TRIM)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._autostart = start  # False: no writer thread (tests and tools call flush)
        self._beat: Any = None  # the dedicated writer's heartbeat, renewed between batches
        self._starting = threading.Lock()
        # one account of the database's health with the SQL recorder's (its reads, and its
        # direct writes while Redis is down, fail and recover on the same outage)
        self.outage: Outage = sql.outage

    # -- the caller's side ---------------------------------------------------------------

    def record(self, record: CallRecord) -> None:
        """Queue `record`; while Redis cannot take it, write it to the database directly (as
        a recorder without a queue does: kept in memory while that is down too)."""
        item = to_json(record)
        try:
            self._push(keys=[QUEUE_KEY, INDEX_KEY], args=[record.call_sid, item])
        except redis.RedisError as exc:
            log.warning(
                "[%s] call record queue unavailable (%s): written directly", record.call_sid, exc
            )
            self.sql.record(record)
            return
        if self._autostart:
            self._ensure_writer()  # a worker forked after start gets its own writer here

    def queue_with(self, slot: Slot, record: CallRecord) -> None:
        """Queue `record` in the same Redis step as the turn's session write (the Redis
        store applies `slot.records` when it unlocks the call): no round trip of its own."""
        slot.records.append((record.call_sid, to_json(record)))
        if self._autostart:
            self._ensure_writer()
        # not woken here: the writer would take the GIL while this turn still answers the
        # caller; it looks at the queue every IDLE_WAIT seconds

    def find(self, call_sid: str) -> CallRecord | None:
        """The record of `call_sid`, queued or written."""
        try:
            queued = self.client.hget(INDEX_KEY, call_sid)
        except redis.RedisError:
            queued = None  # what is queued is out of reach: what is written
        return from_json(queued) if queued else self.sql.find(call_sid)

    def recent(self, limit: int = 20, **filters: Any) -> list[CallRecord]:
        self.settle()
        return self.sql.recent(limit, **filters)

    def figures(self, since: str, until: str, **filters: Any) -> Any:
        self.settle()
        return self.sql.figures(since, until, **filters)

    def settle(self, within: float = SETTLE_WAIT) -> None:
        """Write what is queued before a read: when another writer holds the lease, wait
        (up to `within` seconds) until it has written the queue out."""
        deadline = time.monotonic() + within
        while True:
            self.flush()
            try:
                if not self.client.llen(QUEUE_KEY):
                    return
            except redis.RedisError:
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)

    # -- the writer ----------------------------------------------------------------------

    def start(self) -> None:
        """Start this process's writer thread (again in a forked worker)."""
        self._autostart = True
        self._ensure_writer()

    def _ensure_writer(self) -> None:
        with self._starting:
            alive = self._thread is not None and self._thread.is_alive()
            if self._stop.is_set() or (self._pid == os.getpid() and alive):
                return  # closed, or this process's writer runs
            first = self._pid != os.getpid()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="ivr-record-writer", daemon=True)
            self._thread.start()
            if first:
                atexit.register(self._exit)  # a worker that exits finishes its batch first

    def _exit(self) -> None:
        if self._pid == os.getpid():
            self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop this process's writer thread after its batch (reads still write the queue
        out first); another worker's writer takes the queue."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.dedicated_writer() is not None:
                self._wake.wait(STANDBY_WAIT)  # it writes: this worker stands by
                self._wake.clear()
                continue
            if not self._flush_logged():
                self._wake.wait(IDLE_WAIT)
                self._wake.clear()

    def _flush_logged(self) -> int:
        """flush(), for a writer that must outlive any one failure (logged, then 0)."""
        try:
            return self.flush()
        except Exception:  # noqa: BLE001
            log.exception("call record writer failed; retrying")
            return 0

    def dedicated_writer(self) -> str | None:
        """Who the fleet's dedicated writer is (host:pid), if one is alive."""
        try:
            name = self.client.get(DEDICATED_KEY)
        except redis.RedisError:
            return None  # the queue is out of reach too: record() writes directly
        return name.decode() if isinstance(name, bytes) else name

    def run_dedicated(self, stop: threading.Event, beat: float = DEDICATED_BEAT) -> None:
        """Be the fleet's dedicated writer until `stop` is set: renew the heartbeat that makes
        the workers' writer threads stand by, and write the queue (looking every IDLE_WAIT
        seconds when it is empty). On stop the heartbeat is taken away, and the workers write
        again at once."""
        name = f"{socket.gethostname()}:{os.getpid()}"
        last = 0.0

        def heartbeat() -> None:
            nonlocal last
            if time.monotonic() - last < beat:
                return
            try:
                self.client.set(DEDICATED_KEY, name, px=DEDICATED_TTL_MS)
                last = time.monotonic()
            except redis.RedisError as exc:
                log.warning("dedicated record writer: heartbeat not renewed (%s)", exc)

        self._beat = heartbeat
        try:
            while not stop.is_set():
                heartbeat()
                if not self._flush_logged():
                    stop.wait(IDLE_WAIT)
        finally:
            self._beat = None
            try:
                if self.dedicated_writer() == name:
                    self.client.delete(DEDICATED_KEY)
            except redis.RedisError:
                pass  # the heartbeat lapses by itself

    def flush(self) -> int:
        """Write what is queued, batch by batch, while holding the fleet's writer lock; the
        number written (0 when another worker holds the lock or the database is down)."""
        token = uuid.uuid4().hex
        try:
            if not self.client.set(WRITER_KEY, token, nx=True, px=WRITER_LEASE_MS):
                self._check_back()  # another worker writes: this one may still think it down
                return 0
        except redis.RedisError:
            return 0
        written = 0
        try:
            while True:
                batch = self.client.lrange(QUEUE_KEY, 0, BATCH - 1)
                if not batch:
                    self._check_back()
                    break
                try:
                    records = self._write(batch, token)
                except LeaseLost:
                    break  # the next writer writes this batch
                except (OperationalError, InterfaceError) as exc:
                    self.outage.failed(exc)  # the database does not answer: try again later
                    break
                self.outage.ok()
                pairs = [part for r in records for part in (r[0], r[1])]
                still_writer = self._trim(
                    keys=[WRITER_KEY, QUEUE_KEY, INDEX_KEY],
                    args=[token, len(batch), WRITER_LEASE_MS, *pairs],
                )
                if not still_writer:
                    break  # the lease ran out: the next writer writes these again
                written += len(batch)
                if self._beat is not None:
                    self._beat()  # a long backlog must not let the heartbeat lapse
        except redis.RedisError as exc:
            log.warning("call record queue unavailable: %s", exc)
        finally:
            try:
                self._release(keys=[WRITER_KEY], args=[token])
            except redis.RedisError:
                pass
        return written

    def _check_back(self) -> None:
        """Nothing to write, but the database was down (for this worker): is it back? (Another
        worker may have written what this one could not.)"""
        if self.outage.down:
            try:
                self.sql.ping()
            except SQLAlchemyError:
                return
            self.outage.ok()

    def _write(self, batch: list[Any], token: str) -> list[tuple[str, bytes]]:
        """Write a batch in one transaction, committed only while this writer still holds the
        lease (so a writer whose lease ran out never overwrites what the next one wrote). An
        entry no write accepts (unreadable, or refused by the database) goes to DEAD_KEY, so
        one bad record never stops the others. Returns (call sid, entry) of the batch."""
        good: list[tuple[str, bytes, CallRecord]] = []
        for item in batch:
            try:
                record = from_json(item)
            except (ValueError, TypeError, KeyError) as exc:
                self._bury(item, f"unreadable: {exc}")
                continue
            good.append((record.call_sid, item, record))

        def still_writer() -> None:
            if self.client.get(WRITER_KEY) != token.encode():
                raise LeaseLost

        try:
            self.sql.write_many([r for _, _, r in good], before_commit=still_writer)
        except (OperationalError, InterfaceError, LeaseLost):
            raise
        except SQLAlchemyError:  # one of them is refused: write them one by one
            for call_sid, item, record in good:
                try:
                    self.sql.write_many([record], before_commit=still_writer)
                except (OperationalError, InterfaceError, LeaseLost):
                    raise
                except SQLAlchemyError as exc:
                    self.sql.ping()  # raises when the database itself is the trouble
                    self._bury(item, f"refused by the database: {type(exc).__name__}")
                    log.error("[%s] call record refused by the database: %s", call_sid, exc)
        return [(call_sid, item) for call_sid, item, _ in good]

    def _bury(self, item: bytes, why: str) -> None:
        log.error("call record entry set aside in %s (%s)", DEAD_KEY, why)
        self.client.rpush(DEAD_KEY, item)

    def retry(self) -> None:
        """Written directly while Redis was down and kept while the database was too: now."""
        self.sql.retry()
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
