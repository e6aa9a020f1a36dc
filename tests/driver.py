"""Drive one call through the engine's turn API the way the webhooks do (for tests)."""

from __future__ import annotations

from typing import Any

from ivr.engine.actions import Dial, Enqueue, Gather, Hangup, Pause, Play, Say, Turn, said
from ivr.engine.records import CallRecord
from ivr.engine.turns import Engine


def spoken(actions: Any) -> list[str]:
    """Texts of every Say, including Gather prompts, in order."""
    return said(actions)


class CallDriver:
    def __init__(
        self,
        engine: Engine,
        call_sid: str,
        *,
        caller: str = "",
        called: str = "",
        plan_id: str | None = None,
    ):
        self.engine = engine
        self.call_sid = call_sid
        self.turns: list[Turn] = []
        self.last = engine.start_call(call_sid, caller=caller, called=called, plan_id=plan_id)
        self.turns.append(self.last)

    # -- events ---------------------------------------------------------------------------

    def press(self, digits: str) -> Turn:
        return self._add(self.engine.keys(self.call_sid, self.last.turn, digits))

    def say(self, words: str, confidence: float = 0.92) -> Turn:
        """Words the caller says (Twilio's SpeechResult and Confidence)."""
        turn = self.engine.keys(
            self.call_sid, self.last.turn, "", speech=words, confidence=confidence
        )
        return self._add(turn)

    def silence(self) -> Turn:
        return self._add(self.engine.keys(self.call_sid, self.last.turn, ""))

    def dial(self, status: str = "completed", duration: int = 30) -> Turn:
        return self._add(self.engine.dial_ended(self.call_sid, self.last.turn, status, duration))

    def queue(self, result: str = "bridged") -> Turn:
        return self._add(self.engine.queue_left(self.call_sid, self.last.turn, result))

    def hangup(self, status: str = "completed") -> CallRecord | None:
        return self.engine.end_call(self.call_sid, status)

    def _add(self, turn: Turn) -> Turn:
        self.last = turn
        self.turns.append(turn)
        return turn

    # -- what happened --------------------------------------------------------------------

    @property
    def heard(self) -> list[str]:
        """What the caller heard in the last turn."""
        return spoken(self.last.actions)

    @property
    def heard_all(self) -> list[str]:
        return [text for turn in self.turns for text in spoken(turn.actions)]

    @property
    def ended(self) -> bool:
        return self.last.ended

    @property
    def waiting(self) -> Any:
        return self.last.actions[-1] if self.last.actions else None

    @property
    def gather(self) -> Gather:
        action = self.waiting
        assert isinstance(action, Gather), f"expected a Gather, got {action!r}"
        return action

    @property
    def dialled(self) -> Dial:
        action = self.waiting
        assert isinstance(action, Dial), f"expected a Dial, got {action!r}"
        return action

    @property
    def session(self) -> Any:
        return self.engine.session(self.call_sid)

    @property
    def data(self) -> dict[str, Any]:
        return self.session.data

    @property
    def path(self) -> list[tuple[str, str]]:
        return [(step[0], step[1]) for step in self.session.history]

    def record(self) -> CallRecord | None:
        finder = getattr(self.engine.recorder, "find", None)
        return finder(self.call_sid) if finder else None


__all__ = ["CallDriver", "Dial", "Enqueue", "Gather", "Hangup", "Pause", "Play", "Say", "spoken"]
