"""What the caller hears and does next: the sans-IO result of one turn."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Say:
    text: str
    voice: str | None = None
    language: str | None = None
    loop: int = 1


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1


@dataclass(frozen=True)
class Pause:
    length: int = 1


Speech = Say | Play | Pause


@dataclass(frozen=True)
class Gather:
    """Ask for keys (or words, where `input` has speech): the prompts play while the caller
    may already answer. `hints` are phrases the speech recognizer should expect; `language`
    is the language it listens for."""

    prompts: tuple[Speech, ...] = ()
    num_digits: int | None = None
    finish_on_key: str = "#"
    timeout: int = 5
    input: str = "dtmf"  # "dtmf", "speech" or "dtmf speech"
    hints: str = ""
    language: str | None = None


@dataclass(frozen=True)
class Dial:
    """Connect the caller to another number; the turn ends when that leg ends."""

    number: str
    caller_id: str | None = None
    timeout: int = 30
    time_limit: int | None = None
    record: bool = False


@dataclass(frozen=True)
class Enqueue:
    queue: str


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Wait:
    """Silence for `length` seconds, then the next turn (a new webhook, with no keys): how a
    plan waits for a slow result without holding one webhook past Twilio's 15 s."""

    length: int = 2


Action = Say | Play | Pause | Gather | Dial | Enqueue | Hangup | Wait

_VERBS: dict[str, type] = {
    "say": Say,
    "play": Play,
    "pause": Pause,
    "gather": Gather,
    "dial": Dial,
    "enqueue": Enqueue,
    "hangup": Hangup,
    "wait": Wait,
}
_NAMES = {cls: name for name, cls in _VERBS.items()}


def to_dict(action: Action) -> dict[str, Any]:
    """JSON-ready form of an action (kept in the session to answer repeated webhooks)."""
    out = {"verb": _NAMES[type(action)], **vars(action)}
    if isinstance(action, Gather):
        out["prompts"] = [to_dict(p) for p in action.prompts]
    return out


def from_dict(data: dict[str, Any]) -> Action:
    data = dict(data)
    cls = _VERBS[data.pop("verb")]
    if cls is Gather:
        data["prompts"] = tuple(from_dict(p) for p in data.get("prompts", ()))  # type: ignore
    return cls(**data)


@dataclass(frozen=True)
class Turn:
    """The engine's answer to one webhook: actions in order, and where the call stands."""

    call_sid: str
    turn: int
    actions: tuple[Action, ...] = field(default=())
    ended: bool = False

    @property
    def waits_for(self) -> str | None:
        """`keys`, `dial` or `queue` when the last action waits for an answer, else None."""
        last = self.actions[-1] if self.actions else None
        return {
            Gather: "keys",
            Wait: "keys",
            Dial: "dial",  # type: ignore
            Enqueue: "queue",
        }.get(type(last))


def said(actions: Iterable[Action]) -> list[str]:
    """The texts a caller hears in `actions`, Gather prompts included, in order."""
    out: list[str] = []
    for action in actions:
        if isinstance(action, Say):
            out.append(action.text)
        elif isinstance(action, Gather):
            out.extend(p.text for p in action.prompts if isinstance(p, Say))
    return out
