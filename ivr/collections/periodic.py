"""Collections' work done every few seconds in a thread of a serving process (the embedded
default): take the inbox's files, retry flags, run the due contact rounds. Several processes
may each run it: every piece of work is claimed before it is done."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("ivr.collections")


class Periodic:
    """Calls `work` every `interval` seconds until closed; a failure is logged and the next
    turn comes as usual."""

    def __init__(self, work: Callable[[], object], interval: float, name: str):
        self.work = work
        self.interval = interval
        self.name = name
        self.stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self.stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.work()
            except Exception:  # noqa: BLE001 - the thread must outlive any one failure
                log.exception("%s failed; trying again in %g s", self.name, self.interval)
            self.stop.wait(self.interval)
