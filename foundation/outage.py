"""A dependency that is down, said twice: once when it fails (with why) and once when it is
back (with how long and how much was affected) — not a traceback per request."""

from __future__ import annotations

import logging
import threading
import time


class Outage:
    def __init__(
        self, what: str, log: logging.Logger, affected: str = "requests", meanwhile: str = ""
    ):
        """`what`: the dependency ("the session store"); `affected`: what each failure was
        ("webhooks answered with the apology"); `meanwhile`: what the service does instead,
        said with the failure."""
        self.what = what
        self.log = log
        self.affected = affected
        self.meanwhile = meanwhile
        self._lock = threading.Lock()
        self._since: float | None = None
        self._count = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._count += 1
            if self._since is not None:
                return
            self._since = time.monotonic()
        self.log.error(
            "%s is unavailable (%s: %s)%s",
            self.what,
            type(exc).__name__,
            (str(exc).splitlines() or [""])[0][:200],
            f"; {self.meanwhile}" if self.meanwhile else "",
        )

    def ok(self) -> None:
        if self._since is None:  # the usual case: no lock taken
            return
        with self._lock:
            if self._since is None:
                return
            seconds, count = time.monotonic() - self._since, self._count
            self._since, self._count = None, 0
        self.log.warning(
            "%s is back after %.0f s; %d %s meanwhile", self.what, seconds, count, self.affected
        )
