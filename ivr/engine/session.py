"""The state of one call between webhooks, kept as JSON in the session store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Session:
    """One call: where it is, its data sources, retry state, turn number and history."""

    call_sid: str
    plan_id: str
    plan_version: str
    started_at: str
    caller: str = ""
    called: str = ""
    applet: str | None = None
    waiting: str | None = None  # "keys", "dial" or "queue" while the caller is asked
    state: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    turn: int = 0
    response: list[dict[str, Any]] = field(default_factory=list)
    history: list[list[Any]] = field(default_factory=list)  # [applet, outcome, at, plan, data]
    transcript: list[list[str]] = field(default_factory=list)  # [at, "ivr" | "caller", text]
    missing: list[str] = field(default_factory=list)
    ended_at: str | None = None
    end_status: str | None = None
    recorded: bool = False
    awaiting_dial: bool = False  # ended while transferred: the dial action may still come
    caller_gone: bool = False  # finishing the plan's work after the caller hung up

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def take_written(self) -> dict[str, Any]:
        """The data sources set since the last call (and forget them)."""
        data = self.data
        if not isinstance(data, WatchedData):
            return {}
        written = {name: data[name] for name in data.written if name in data}
        data.written.clear()
        return written

    def watch_data(self) -> None:
        """Note from now on which data sources are set (for the record's per-step data)."""
        if not isinstance(self.data, WatchedData):
            self.data = WatchedData(self.data)

    def to_json(self) -> str:
        # vars() rather than dataclasses.asdict: the fields are JSON-ready already, and asdict's
        # deep copy was the most expensive step of a turn.
        return json.dumps(vars(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> Session:
        """A session as any version wrote it: fields this version does not know (written by
        a newer worker during a rolling deploy) are left out."""
        raw = json.loads(text)
        if raw.keys() <= _FIELDS:
            return cls(**raw)
        return cls(**{k: v for k, v in raw.items() if k in _FIELDS})


_FIELDS = frozenset(f.name for f in fields(Session))


class WatchedData(dict[str, Any]):
    """A call's data sources, noting which names are set (JSON like any dict)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.written: set[str] = set()

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        self.written.add(name)

    def setdefault(self, name: str, value: Any = None) -> Any:
        if name not in self:
            self.written.add(name)
        return super().setdefault(name, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        other = dict(*args, **kwargs)
        super().update(other)
        self.written.update(other)
