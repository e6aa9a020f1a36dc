"""Call records: what is kept when a call ends (plan, caller, outcome, path of applets)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PathStep:
    applet: str
    outcome: str
    at: str
    plan: str = ""


@dataclass(frozen=True)
class CallRecord:
    call_sid: str
    plan_id: str
    plan_version: str
    clid: str
    ddi: str
    started_at: str
    ended_at: str
    outcome: str
    end_status: str
    path: tuple[PathStep, ...] = ()
    missing: tuple[str, ...] = field(default=())


class Recorder(Protocol):
    def record(self, record: CallRecord) -> None: ...


class MemoryRecorder:
    """Keeps call records in memory (tests and the embedded default without a database)."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self._lock = threading.Lock()

    def record(self, record: CallRecord) -> None:
        """Keep `record`; a second record of the same call replaces the first."""
        with self._lock:
            self.records = [r for r in self.records if r.call_sid != record.call_sid]
            self.records.append(record)

    def find(self, call_sid: str) -> CallRecord | None:
        with self._lock:
            return next((r for r in self.records if r.call_sid == call_sid), None)
