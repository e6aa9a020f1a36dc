"""The session store interface and its key templates."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

CALL_KEY = "ivr:call:{sid}"
LOCK_KEY = "ivr:lock:{sid}"
PLAN_KEY = "ivr:plan:{version}"
RECORDS_QUEUE_KEY = "ivr:records:queue"  # call records waiting for the SQL writer
RECORDS_INDEX_KEY = "ivr:records:queued"  # call sid → its newest queued record


class Slot:
    """One call's stored value while its lock is held; writes are applied when the lock ends."""

    def __init__(self, value: str | None):
        self.value = value
        self.write: tuple[str, int] | None = None
        self.remove = False
        # (call sid, record JSON) to queue for the SQL writer in the same step as the write
        # (a store that cannot leaves it empty: see `queues_records`)
        self.records: list[tuple[str, str]] = []

    def put(self, value: str, ttl: int) -> None:
        self.value, self.write, self.remove = value, (value, ttl), False

    def delete(self) -> None:
        self.value, self.write, self.remove = None, None, True


class SessionStore(Protocol):
    """Keeps JSON text per call (and plan sources per version) with a TTL."""

    def get(self, call_sid: str) -> str | None: ...

    def put(self, call_sid: str, value: str, ttl: int) -> None: ...

    def delete(self, call_sid: str) -> None: ...

    def lock(self, call_sid: str, timeout: float = 10.0) -> AbstractContextManager[None]: ...

    def session(self, call_sid: str, timeout: float = 10.0) -> AbstractContextManager[Slot]: ...

    def put_plan(self, version: str, source: str, ttl: int) -> None: ...

    def get_plan(self, version: str) -> str | None: ...

    def ping(self) -> bool: ...
