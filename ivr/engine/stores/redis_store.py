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

# Take the lock and read the call in one step: {1, value} when taken, {0, nil} when busy. A
# call made again after a lost answer finds its own token: the lock is already ours.
_ACQUIRE = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2]))
   or redis.call('get', KEYS[1]) == ARGV[1] then
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


KEEP = 4  # connections a store keeps for its Lua calls (more at once go back to the pool)


class LuaConnections:
    """Connections for Lua calls, taken from a client's pool (so with its settings, timeouts
    and retry policy) and kept between calls instead of handed back each time.

    redis-py 8's command path (the pool's bookkeeping and observability hooks on every
    checkout and return, response callbacks, its wrappers) cost more of a worker's CPU than
    a turn's round trip itself. This keeps what matters of it: a connection Redis closed is
    made afresh before a call goes on it (as the pool checks what it hands out), a connection
    in an unknown state (a call cut short) is closed, one Redis asks to move is reconnected,
    and a forked process never uses its parent's sockets. A thread takes a connection of its
    own for a call; at most `keep` are kept, any more go back to the pool.
    """

    def __init__(self, client: redis.Redis, keep: int = KEEP) -> None:
        self.pool = client.connection_pool
        self.keep = keep
        self.idle: list[Any] = []
        self._pid = os.getpid()
        # Anything waiting to be read on a kept connection is an answer nobody asked for (it
        # would be read as the next call's), unless Redis may push messages: RESP3 with
        # maintenance notifications on
        maint = getattr(self.pool, "maint_notifications_enabled", None)
        resp3 = str(self.pool.connection_kwargs.get("protocol") or 2) == "3"
        self._unread_is_bad = not (resp3 and maint is not None and maint())

    def take(self) -> Any:
        if self._pid != os.getpid():  # forked: the parent's connections are not ours
            self.idle, self._pid = [], os.getpid()
        try:
            conn = self.idle.pop()
        except IndexError:
            return self.pool.get_connection()  # checked by the pool as it hands it out
        try:
            conn.connect()  # nothing to do when connected; one try of the retry policy
            try:
                if conn.can_read() and self._unread_is_bad:  # a closed socket raises here
                    raise redis.ConnectionError("the connection has data nobody asked for")
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                conn.disconnect()  # Redis closed it (a restart, an idle client dropped)
                conn.connect()
        except BaseException:
            conn.disconnect()  # a handshake cut short may have left an answer unread
            self.idle.append(conn)
            raise
        return conn

    def give_back(self, conn: Any, *, in_step: bool) -> None:
        """`in_step`: the call read its whole answer (else the connection is closed)."""
        should_reconnect = getattr(conn, "should_reconnect", None)
        if not in_step or (should_reconnect is not None and should_reconnect()):
            conn.disconnect()
        if len(self.idle) < self.keep:
            self.idle.append(conn)
        else:
            self.pool.release(conn)


class LuaScript:
    """A Lua script called with EVALSHA on `connections`: on a connection error or a timeout
    the connection is dropped and the call made again as the client's retry policy says; a
    script Redis has lost (a restart, SCRIPT FLUSH) is loaded again."""

    def __init__(self, connections: LuaConnections, source: str) -> None:
        self.connections = connections
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        conn = self.connections.take()
        in_step = False  # whether the connection read the whole answer
        try:
            answer = conn.retry.call_with_retry(
                lambda: self._run(conn, keys, args), lambda _error: conn.disconnect()
            )
            in_step = True
            return answer
        except ResponseError:
            in_step = True  # an error reply is a whole answer
            raise
        finally:
            self.connections.give_back(conn, in_step=in_step)

    def _run(self, conn: Any, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        evalsha = ("EVALSHA", self.sha, len(keys), *keys, *args)
        conn.send_command(*evalsha)
        try:
            return conn.read_response()
        except NoScriptError:
            conn.send_command("SCRIPT", "LOAD", self.source)
            conn.read_response()
            conn.send_command(*evalsha)
            return conn.read_response()


class RedisStore:
    """JSON text under `ivr:` keys with a TTL; a Redis lock per call serializes its turns."""

    queues_records = True  # a slot's records are queued with its write (RECORDS_QUEUE_KEY)

    def __init__(self, client: redis.Redis, *, lock_ttl: float = 60.0):
        self.client = client
        self.lock_ttl = lock_ttl
        connections = LuaConnections(client)
        self._acquire = LuaScript(connections, _ACQUIRE)
        self._release = LuaScript(connections, _RELEASE)

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
