"""What the console's softphone page needs from the composition root (ivr/app/softphone.py):
ring a number, send the keys keyed at a prompt, hang up, the numbers served, and the test
payments' API."""

from __future__ import annotations

from typing import Any, Protocol

from ivr.console.payments_api import PaymentsApi


class PhoneProblem(ValueError):
    """A softphone request that cannot be used (the message says why): 400."""


class PhoneMovedOn(PhoneProblem):
    """Keys for a prompt that was answered already (a repeated request): 409."""


class PhoneCallGone(LookupError):
    """No softphone call of that id for this user (it ended, or idled out): 404."""


class Step(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class PhoneLine(Protocol):
    def numbers(self) -> list[tuple[str, str]]: ...

    def ring(self, user: str, to: str, caller: str) -> Step: ...

    def enter(self, user: str, call_id: str, keys: str, answered: int) -> Step: ...

    def hang_up(self, user: str, call_id: str) -> Step: ...

    def payments_api(self) -> PaymentsApi | None: ...
