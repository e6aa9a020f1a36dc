"""The state of one call between webhooks, kept as JSON in the session store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    history: list[list[Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ended_at: str | None = None
    end_status: str | None = None
    recorded: bool = False
    awaiting_dial: bool = False  # ended while transferred: the dial action may still come
    caller_gone: bool = False  # finishing the plan's work after the caller hung up

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def to_json(self) -> str:
        # vars() rather than dataclasses.asdict: the fields are JSON-ready already, and asdict's
        # deep copy was the most expensive step of a turn.
        return json.dumps(vars(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> Session:
        return cls(**json.loads(text))
