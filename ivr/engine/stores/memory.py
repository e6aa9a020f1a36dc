"""In-process session store: a dict with expiry times and a lock per call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from foundation.locks import NamedLocks
from ivr.engine.stores.base import CALL_KEY, PLAN_KEY, Slot
from ivr.errors import LockTimeout


class MemoryStore:
    """For one process: tests, the simulator and the embedded default."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}
        self._locks = NamedLocks(lambda sid: LockTimeout(f"call {sid} is busy with another turn"))
        self._guard = threading.Lock()

    def _get(self, key: str) -> str | None:
        with self._guard:
            item = self._data.get(key)
            if item is None:
                return None
            if item[1] <= self._clock():
                del self._data[key]
                return None
            return item[0]

    def _put(self, key: str, value: str, ttl: int) -> None:
        with self._guard:
            self._data[key] = (value, self._clock() + ttl)
            if len(self._data) % 1024 == 0:
                now = self._clock()
                for k in [k for k, (_, exp) in self._data.items() if exp <= now]:
                    del self._data[k]

    def get(self, call_sid: str) -> str | None:
        return self._get(CALL_KEY.format(sid=call_sid))

    def put(self, call_sid: str, value: str, ttl: int) -> None:
        self._put(CALL_KEY.format(sid=call_sid), value, ttl)

    def delete(self, call_sid: str) -> None:
        with self._guard:
            self._data.pop(CALL_KEY.format(sid=call_sid), None)

    def lock(self, call_sid: str, timeout: float = 10.0) -> AbstractContextManager[None]:
        return self._locks.hold(call_sid, timeout)

    @contextmanager
    def session(self, call_sid: str, timeout: float = 10.0) -> Iterator[Slot]:
        """Lock the call, read its value, and apply the slot's write when done."""
        with self.lock(call_sid, timeout):
            slot = Slot(self.get(call_sid))
            yield slot
            if slot.write is not None:
                self.put(call_sid, *slot.write)
            elif slot.remove:
                self.delete(call_sid)

    def put_plan(self, version: str, source: str, ttl: int) -> None:
        self._put(PLAN_KEY.format(version=version), source, ttl)

    def get_plan(self, version: str) -> str | None:
        return self._get(PLAN_KEY.format(version=version))

    def keys(self) -> list[str]:
        with self._guard:
            return list(self._data)

    def ping(self) -> bool:
        return True
