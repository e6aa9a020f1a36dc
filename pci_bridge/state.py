"""Live payment sessions (the leg's progress, sealed card fields) and CLID reservations, in
memory or Redis (keys: pci_bridge/keys.py), with TTLs and a lock per session."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import redis

from foundation.locks import NamedLocks
from pci_bridge.errors import PciBridgeError


class LiveState(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str, ttl: int) -> None: ...

    def delete(self, key: str) -> None: ...

    def reserve(self, key: str, value: str, ttl: int) -> bool: ...

    def release(self, key: str, value: str) -> None: ...

    def lock(self, name: str, timeout: float = 10.0) -> AbstractContextManager[None]: ...


class MemoryState:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}
        self._guard = threading.Lock()
        self._locks = NamedLocks(lambda name: PciBridgeError(f"{name} is busy"))

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    def get(self, key: str) -> str | None:
        with self._guard:
            return self._live(key)

    def put(self, key: str, value: str, ttl: int) -> None:
        with self._guard:
            self._data[key] = (value, self._clock() + ttl)

    def delete(self, key: str) -> None:
        with self._guard:
            self._data.pop(key, None)

    def reserve(self, key: str, value: str, ttl: int) -> bool:
        with self._guard:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._clock() + ttl)
            return True

    def release(self, key: str, value: str) -> None:
        with self._guard:
            if self._live(key) == value:
                del self._data[key]

    def lock(self, name: str, timeout: float = 10.0) -> AbstractContextManager[None]:
        return self._locks.hold(name, timeout)

    def keys(self) -> list[str]:
        with self._guard:
            return list(self._data)


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisState:
    """Live state in Redis; `namespace` goes before every key, so a second bridge (the
    console's softphone's) can share a Redis without ever meeting the first one's keys."""

    def __init__(self, client: redis.Redis, namespace: str = ""):
        self.client = client
        self.namespace = namespace
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str) -> RedisState:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2))

    def close(self) -> None:
        self.client.close()

    def get(self, key: str) -> str | None:
        value = self.client.get(self.namespace + key)
        return value.decode() if isinstance(value, bytes) else value

    def put(self, key: str, value: str, ttl: int) -> None:
        self.client.set(self.namespace + key, value, ex=ttl)

    def delete(self, key: str) -> None:
        self.client.delete(self.namespace + key)

    def reserve(self, key: str, value: str, ttl: int) -> bool:
        return bool(self.client.set(self.namespace + key, value, nx=True, ex=ttl))

    def release(self, key: str, value: str) -> None:
        self._release([self.namespace + key], [value])

    @contextmanager
    def lock(self, name: str, timeout: float = 10.0) -> Iterator[None]:
        lock = self.client.lock(
            self.namespace + name, timeout=30, sleep=0.005, blocking_timeout=timeout
        )
        if not lock.acquire(token=uuid.uuid4().hex):
            raise PciBridgeError(f"{name} is busy")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass


def open_state(url: str | None) -> MemoryState | RedisState:
    if not url or url.startswith("memory:"):
        return MemoryState()
    return RedisState.from_url(url)
