"""What the console's "Run scenario tests" shows, and what it asks of the composition root
(ivr/app/scenario_runs.py): the plan's scenarios run against an edited text beside the other
serving plans, on private systems (simulated bridge and gateway), recorded as test calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ivr.lang.model import Plan


@dataclass(frozen=True)
class ScenarioResult:
    file: str
    name: str
    passed: bool
    failures: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass
class ScenarioRun:
    results: list[ScenarioResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # files that did not load, a budget spent

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


class ScenarioRunner(Protocol):
    def __call__(self, plan_id: str, plans: list[Plan]) -> ScenarioRun: ...
