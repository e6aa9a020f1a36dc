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
from ivr.console.users import Users
from ivr.engine.catalog import load_texts
from ivr.engine.records import CallRecord
from ivr.lang.diagnostics import Diagnostic

KEY = "ivr_console"


@dataclass(frozen=True)
class PlanRow:
    """One line of the plans page."""

    plan_id: str
    numbers: tuple[str, ...]
    serving: PublishedVersion
    versions: int
    errors: int
    warnings: int
    description: str


@dataclass
class ConsoleServices:
    users: Users
    plans: PlanStore
    records: Any  # recent(limit, plan=, ...), find(call_sid), figures(since, until)
    after_publish: Callable[[], Any] = lambda: None  # this process follows at once
    payments: PaymentsApi | None = None  # the bridge's payments API (None: no bridge)
    _rows: tuple[int, list[PlanRow]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def plan_rows(self) -> list[PlanRow]:
        """Every serving plan, checked as the fleet loads them (kept until the next publish)."""
        marker = self.plans.marker()
        with self._lock:
            if self._rows is not None and self._rows[0] == marker:
                return self._rows[1]
        serving, loaded = self.plans.load_serving()
        by_name = {v.name: v for v in serving}
        plans = {report.file: plan for plan, report in loaded.plans}
        rows = []
        for version in serving:
            plan = plans.get(version.name)
            found = [d for d in loaded.diagnostics if d.file == version.name]
            rows.append(
                PlanRow(
                    plan_id=version.plan_id,
                    numbers=plan.numbers if plan is not None else (),
                    serving=by_name[version.name],
                    versions=version.number,
                    errors=sum(d.severity == "error" for d in found),
                    warnings=sum(d.severity == "warning" for d in found),
                    description=(plan.description or "") if plan is not None else "",
                )
            )
        with self._lock:
            self._rows = (marker, rows)
        return rows

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


def services() -> ConsoleServices:
    found: ConsoleServices = current_app.extensions[KEY]
    return found
