"""Call records: what is kept when a call ends (plan, caller, outcome, the path of applets with
the data each step set, and the transcript), never a secret or card data."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PathStep:
    applet: str
    outcome: str
    at: str
    plan: str = ""
    data: Mapping[str, str] = field(default_factory=dict)  # what the step set, as shown


@dataclass(frozen=True)
class Line:
    """One line of a call's transcript: what the caller heard (`ivr`) or entered (`caller`)."""

    at: str
    who: str
    text: str


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
    transcript: tuple[Line, ...] = ()
    reached_agent: bool | None = None  # passed an applet that hands callers to a person
    test: bool = False  # a test call (the console's softphone), kept out of the live figures

    def as_dict(self) -> dict[str, Any]:
        """Plain values (a step is [applet, outcome, at, plan, data], a transcript line
        [at, who, text]): for JSON and SQL rows."""
        return {
            "call_sid": self.call_sid,
            "plan_id": self.plan_id,
            "plan_version": self.plan_version,
            "clid": self.clid,
            "ddi": self.ddi,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "outcome": self.outcome,
            "end_status": self.end_status,
            "path": [[s.applet, s.outcome, s.at, s.plan, dict(s.data)] for s in self.path],
            "missing": list(self.missing),
            "transcript": [[line.at, line.who, line.text] for line in self.transcript],
            "reached_agent": self.reached_agent,
            "test": self.test,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CallRecord:
        """The record `as_dict` gave (an unknown key is a TypeError)."""
        return cls(
            **{k: v for k, v in raw.items() if k not in ("path", "missing", "transcript")},
            path=tuple(PathStep(*step) for step in raw["path"]),
            missing=tuple(raw["missing"]),
            transcript=tuple(Line(*line) for line in raw.get("transcript") or ()),
        )


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
