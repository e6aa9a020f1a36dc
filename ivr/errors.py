"""The exception tree of the call-flow engine.

IVRError
├── PlanError            a call plan failed to load (carries every diagnostic)
├── PlanNotFound         no plan with that id, version or number
├── TemplateError        a placeholder could not be rendered
│   └── MissingSecret    a #(NAME) secret has no value in the environment or config
├── StoreError           the session store failed (connection, lock timeout)
│   ├── LockTimeout      another turn of the same call holds the lock too long
│   └── SessionLost      a turn of a call whose session is not in the store (expired, or
│                        a store that lost its data)
├── EngineError          an applet failed at run time (routed to the plan's fallback)
├── RecordsUnavailable   the call records database could not be read
└── CollectionsError     a collections operation could not be done (ivr/collections)
    ├── UnknownCase      no such case
    ├── NotAllowed       a change of state the case's rules forbid
    └── FlagProblem      the billing service did not set or remove an account's flag
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.lang.diagnostics import Diagnostic


class IVRError(Exception):
    """Base class of every error the engine raises on purpose."""


class PlanError(IVRError):
    """A call plan (or a folder of them) did not load; `diagnostics` says why."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = errors[0].format() if errors else "call plan did not load"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class PlanNotFound(IVRError):
    """No loaded plan answers the id, version or dialled number asked for."""


class TemplateError(IVRError):
    """A `$(...)` or `#(...)` placeholder could not be rendered."""


class MissingSecret(TemplateError):
    """A `#(NAME)` secret has no value."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"secret {name} is not set; export {name}=... or add it under secrets: in config.yaml"
        )


class StoreError(IVRError):
    """The session store could not be reached or answered badly."""


class LockTimeout(StoreError):
    """A turn waited too long for another turn of the same call to finish."""


class SessionLost(StoreError):
    """An event for a call whose session is gone: the web layer treats it as a store outage
    (an apology and the emergency agent line), not as a call that never was."""


class RecordsUnavailable(IVRError):
    """The call records database did not answer a read (writes wait for it instead)."""


class EngineError(IVRError):
    """An applet failed while running; the engine routes the call to the plan's fallback."""


class CollectionsError(IVRError):
    """A collections operation that cannot be done; the message says why."""
