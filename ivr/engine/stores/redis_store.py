"""Redis session store: any number of worker processes serve the same calls."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError

from foundation.stages import stage
from ivr.engine.stores.base import (
    CALL_KEY,
    LOCK_KEY,
    PLAN_KEY,
    RECORDS_INDEX_KEY,
    RECORDS_QUEUE_KEY,
    Slot,
)
from ivr.errors import LockTimeout, StoreError

# Take the lock and read the call in one step: {1, value} when taken, {0, nil} when busy.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  return {1, redis.call('get', KEYS[2])}
end
return {0, false}
"""

# Unlock only if we still hold the lock, and apply the turn's write in the same step, with the
# call records it queues for the SQL writer (ARGV[5] = how many, then call sid and record).
_RELEASE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'put' then redis.call('set', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4]))
elseif ARGV[2] == 'del' then redis.call('del', KEYS[2]) end
for i = 1, tonumber(ARGV[5]) do
  local sid, record = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  redis.call('rpush', KEYS[3], record)
  redis.call('hset', KEYS[4], sid, record)
end
redis.call('del', KEYS[1])
return 1
"""


def _make_ready(conn: Any) -> None:
    """As the pool checks a connection it hands out: one with something to read (Redis closed
    it, restarted, or dropped an idle client) is made afresh before a call goes on it."""
    try:
        conn.connect()  # nothing to do when connected
        if conn.can_read():
            raise redis.ConnectionError("the connection has data nobody asked for")
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        conn.disconnect()
        conn.connect()


class LuaScript:
    """A Lua script called with EVALSHA on connections it keeps, taken from the client's pool
    (so with its settings, timeouts and retry policy).

    Every turn makes two of these calls. redis-py 8's command path (the pool's bookkeeping
    and observability hooks on every checkout and return, response callbacks, its wrappers)
    cost more of a worker's CPU than the round trip itself; this keeps what matters of it:
    a connection Redis closed is made afresh before a call goes on it (as the pool does), on
    a connection error or a timeout the connection is dropped and the call made again as
    the client's retry policy says, a script Redis has lost (a restart, SCRIPT FLUSH) is
    loaded again, a connection in an unknown state (a call cut short) is closed, and a
    forked process never uses its parent's sockets. A thread takes a connection of its own
    for the call (at most one per thread calling at once).
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._pool = client.connection_pool
        self._idle: list[Any] = []
        self._pid = os.getpid()

    def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        if self._pid != os.getpid():  # forked: the parent's connections are not ours
            self._idle, self._pid = [], os.getpid()
        try:
            conn, fresh = self._idle.pop(), False
        except IndexError:  # kept, never returned to the pool (which checks what it hands out)
            conn, fresh = self._pool.get_connection(), True
        try:
            if not fresh:
                _make_ready(conn)
            answer = conn.retry.call_with_retry(
                lambda: self._run(conn, keys, args), lambda _error: conn.disconnect()
            )
        except ResponseError:
            self._idle.append(conn)  # an error reply: the connection is in step
            raise
        except BaseException:
            conn.disconnect()  # whatever it was reading is lost: connect afresh next time
            self._idle.append(conn)
            raise
        self._idle.append(conn)
        return answer

    def _run(self, conn: Any, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return conn.read_response()
        except NoScriptError:
            conn.send_command("SCRIPT", "LOAD", self.source)
            conn.read_response()
            conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
            return conn.read_response()


class RedisStore:
    """JSON text under `ivr:` keys with a TTL; a Redis lock per call serializes its turns."""

    queues_records = True  # a slot's records are queued with its write (RECORDS_QUEUE_KEY)

    def __init__(self, client: redis.Redis, *, lock_ttl: float = 60.0):
        self.client = client
        self.lock_ttl = lock_ttl
        self._acquire = LuaScript(client, _ACQUIRE)
        self._release = LuaScript(client, _RELEASE)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> RedisStore:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2), **kwargs)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis session store failed: {exc}") from exc

    def get(self, call_sid: str) -> str | None:
        value = self._call(self.client.get, CALL_KEY.format(sid=call_sid))
        return value.decode() if isinstance(value, bytes) else value

    def put(self, call_sid: str, value: str, ttl: int) -> None:
        self._call(self.client.set, CALL_KEY.format(sid=call_sid), value, ttl)

    def delete(self, call_sid: str) -> None:
        self._call(self.client.delete, CALL_KEY.format(sid=call_sid))

    @contextmanager
    def lock(self, call_sid: str, timeout: float = 10.0) -> Iterator[None]:
        lock = self.client.lock(
            LOCK_KEY.format(sid=call_sid),
            timeout=self.lock_ttl,
            sleep=0.005,
            blocking_timeout=timeout,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise StoreError(f"Redis session store failed: {exc}") from exc
        if not acquired:
            raise LockTimeout(f"call {call_sid} is busy with another turn")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass  # expired while the turn ran; the next turn may proceed
            except redis.RedisError as exc:
                raise StoreError(f"Redis session store failed: {exc}") from exc

    @contextmanager
    def session(self, call_sid: str, timeout: float = 10.0) -> Iterator[Slot]:
        """Lock the call and read its value in one round trip; write and unlock in another."""
        lock_key, call_key = LOCK_KEY.format(sid=call_sid), CALL_KEY.format(sid=call_sid)
        token = uuid.uuid4().hex
        ttl_ms = int(self.lock_ttl * 1000)
        deadline = time.monotonic() + timeout
        delay = 0.002
        with stage("session_read"):  # lock and read (waiting for another turn included)
            while True:
                acquired, value = self._call(self._acquire, [lock_key, call_key], [token, ttl_ms])
                if acquired:
                    break
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"call {call_sid} is busy with another turn")
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        slot = Slot(value.decode() if isinstance(value, bytes) else value)
        failed = True
        try:
            yield slot
            failed = False
        finally:
            mode, args = "keep", ["", 0]
            records: list[str] = []
            if failed:
                pass  # a turn that raised writes nothing (as with the memory store)
            elif slot.write is not None:
                mode, args = "put", [slot.write[0], slot.write[1]]
            elif slot.remove:
                mode = "del"
            if not failed:
                records = [part for pair in slot.records for part in pair]
            with stage("session_write"):  # write, queue records, unlock
                held = self._call(
                    self._release,
                    [lock_key, call_key, RECORDS_QUEUE_KEY, RECORDS_INDEX_KEY],
                    [token, mode, *args, len(slot.records) if not failed else 0, *records],
                )
            if not held and (mode != "keep" or records):
                raise StoreError(
                    f"the lock of call {call_sid} expired before its turn ended; "
                    "the turn's changes were not saved"
                )

    def put_plan(self, version: str, source: str, ttl: int) -> None:
        self._call(self.client.set, PLAN_KEY.format(version=version), source, ttl)

    def get_plan(self, version: str) -> str | None:
        value = self._call(self.client.get, PLAN_KEY.format(version=version))
        return value.decode() if isinstance(value, bytes) else value

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
