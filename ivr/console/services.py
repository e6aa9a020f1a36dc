"""What the console's pages read and change, handed to it by the composition root: the users,
the published plans, the call records."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from ivr.adapters.plan_store import Candidate, PlanStore, PublishedVersion
from ivr.console.payments_api import PaymentsApi
from ivr.console.phone_line import PhoneLine
from ivr.console.scenario_runs import ScenarioRunner
from ivr.console.users import Users
from ivr.engine.catalog import load_texts
from ivr.engine.records import CallRecord
from ivr.lang.diagnostics import Diagnostic
from ivr.lang.model import Plan

KEY = "ivr_console"


@dataclass(frozen=True)
class ServingPlan:
    """A plan as the fleet serves it: its newest version, loaded beside the others (`plan`
    is None when that version no longer loads), and what the checks found."""

    serving: PublishedVersion
    plan: Plan | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def plan_id(self) -> str:
        return self.serving.plan_id

    @property
    def numbers(self) -> tuple[str, ...]:
        return self.plan.numbers if self.plan is not None else ()

    @property
    def description(self) -> str:
        return (self.plan.description or "") if self.plan is not None else ""

    @property
    def errors(self) -> int:
        return sum(d.severity == "error" for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity == "warning" for d in self.diagnostics)


@dataclass
class ConsoleServices:
    users: Users
    plans: PlanStore
    records: Any  # recent(limit, plan=, ...), find(call_sid), figures(since, until)
    after_publish: Callable[[], Any] = lambda: None  # this process follows at once
    payments: PaymentsApi | None = None  # the bridge's payments API (None: no bridge)
    phone: PhoneLine | None = None  # the softphone (test calls, on a private system)
    scenarios: ScenarioRunner | None = None  # a plan's scenario tests, on private systems
    _serving: tuple[int, dict[str, ServingPlan]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def serving(self) -> dict[str, ServingPlan]:
        """Every serving plan by id, loaded and checked as the fleet loads them (once per
        publish: the plan pages and their drawings reuse it)."""
        marker = self.plans.marker()
        with self._lock:
            if self._serving is not None and self._serving[0] == marker:
                return self._serving[1]
        versions, loaded = self.plans.load_serving()
        plans = {report.file: plan for plan, report in loaded.plans}
        found = {
            v.plan_id: ServingPlan(
                v, plans.get(v.name), tuple(d for d in loaded.diagnostics if d.file == v.name)
            )
            for v in versions
        }
        with self._lock:
            self._serving = (marker, found)
        return found

    def call_of_payment(self, payment: dict[str, Any]) -> CallRecord | None:
        """The call a payment came from: the caller's call in progress when it was created."""
        caller, created = payment.get("caller_clid"), payment.get("created_at") or ""
        if not caller or not created:
            return None
        for record in self.records.recent(20, caller=caller, until=created):
            if record.started_at <= created <= (record.ended_at or created):
                return record
        return None

    def check(self, plan_id: str, text: str) -> list[Diagnostic]:
        """What publishing `text` as `plan_id` would find."""
        return self.plans.check([Candidate("<console>", text, "check")]).diagnostics

    def plan_id_of(self, text: str) -> str | None:
        """The `plan:` id the text declares, when it loads."""
        loaded = load_texts([("<console>", text)], cross_check=False)
        return loaded.plans[0][0].id if loaded.plans else None

    def test_payments(self) -> PaymentsApi | None:
        """The softphone's payments API (test payments), when there is a softphone."""
        return self.phone.payments_api() if self.phone is not None else None


def services() -> ConsoleServices:
    found: ConsoleServices = current_app.extensions[KEY]
    return found
