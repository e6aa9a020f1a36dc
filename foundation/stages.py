"""Where a request's time goes: code wraps its stages (`with stage("session_read"):`) and the
web layer, which opened the account at the start of the request (`begin`), reports the
seconds per stage at its end (`taken`). Outside a request nothing is counted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_TAKEN: ContextVar[dict[str, float] | None] = ContextVar("ivr_stages", default=None)


def begin() -> None:
    """Open a fresh account for this request (or thread of work)."""
    _TAKEN.set({})


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the block's wall time to `name` (repeated stages add up)."""
    taken = _TAKEN.get()
    if taken is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        taken[name] = taken.get(name, 0.0) + time.perf_counter() - started


def taken() -> dict[str, float]:
    """Seconds per stage so far, and close the account."""
    account = _TAKEN.get() or {}
    _TAKEN.set(None)
    return account
