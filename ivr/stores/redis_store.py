"""Redis session store: any number of worker processes serve the same calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from ivr.errors import LockTimeout, StoreError
from ivr.stores.base import CALL_KEY, LOCK_KEY, PLAN_KEY


class RedisStore:
    """JSON text under `ivr:` keys with a TTL; a Redis lock per call serializes its turns."""

    def __init__(self, client: redis.Redis, *, lock_ttl: float = 30.0):
        self.client = client
        self.lock_ttl = lock_ttl

    @classmethod
    def from_url(cls, url: str, **kwargs) -> RedisStore:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2),
                   **kwargs)

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
        lock = self.client.lock(LOCK_KEY.format(sid=call_sid), timeout=self.lock_ttl,
                                sleep=0.005, blocking_timeout=timeout)
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
