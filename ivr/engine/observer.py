"""What the engine tells an observer as calls run (metrics, in production): calls started and
ended, and each web service call a plan makes. The engine imports no metrics library; the
composition root plugs one in (`ivr/adapters/metrics.py`)."""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    def call_started(self, plan_id: str) -> None: ...

    def call_ended(self, plan_id: str, outcome: str) -> None: ...

    def service_call(self, plan_id: str, applet_id: str, result: str, seconds: float) -> None:
        """`result`: the answer's status class (`2xx`, `4xx`, ...) or `failure`."""


class NullObserver:
    """Observes nothing (tools, tests)."""

    def call_started(self, plan_id: str) -> None:
        pass

    def call_ended(self, plan_id: str, outcome: str) -> None:
        pass

    def service_call(self, plan_id: str, applet_id: str, result: str, seconds: float) -> None:
        pass
