"""Named locks inside one process (the memory session store, the bridge's memory state): one
`threading.Lock` per name, kept only while someone holds or waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class NamedLocks:
    def __init__(self, busy: Callable[[str], Exception]):
        """`busy(name)` is the exception raised when a lock is not had within the timeout."""
        self._busy = busy
        self._locks: dict[str, list] = {}  # name -> [lock, holders and waiters]
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, name: str, timeout: float) -> Iterator[None]:
        with self._guard:
            entry = self._locks.setdefault(name, [threading.Lock(), 0])
            entry[1] += 1
        try:
            if not entry[0].acquire(timeout=timeout):
                raise self._busy(name)
            try:
                yield
            finally:
                entry[0].release()
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[name]  # no lock is kept for a finished call

    def __len__(self) -> int:
        """How many names are held or waited for."""
        with self._guard:
            return len(self._locks)
