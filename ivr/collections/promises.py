"""Promises to pay made on collections calls: kept with the amount, the date and what the
account owed then, and checked against the billing service from 09:00 the day after the date
(the customer's time zone). Kept in full (the account owes nothing more): the case is paid and
resolved, and its flag removed. Kept but something is still owed, or broken: the case goes
back to contacting and the contact policy starts again, the cause saying which."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update

from foundation.clock import as_utc
from ivr.collections.cases import Case, Cases, CaseState
from ivr.collections.flags import BillingFlags, FlagProblem
from ivr.collections.tables import collections_promises

log = logging.getLogger("ivr.collections")

CHECK_AT = time(9, 0)  # the day after the promised date, where the customer lives
RETRY = timedelta(hours=1)  # the billing service could not say: asked again this later
LEASE = timedelta(minutes=10)  # a check claimed and never finished (a worker stopped): again


@dataclass(frozen=True)
class Promise:
    id: int
    case_id: int
    amount_minor: int
    promised_for: date
    owed_minor: int
    state: str
    check_at: datetime | None  # when it is (next) checked


def _money(minor: int) -> str:
    return f"{Decimal(minor).scaleb(-2):.2f}"


class Promises:
    def __init__(
        self,
        cases: Cases,
        billing: BillingFlags | None,
        on_resolved: Callable[[Case], None],
    ):
        self.cases = cases
        self.db = cases.db
        self.billing = billing
        self.on_resolved = on_resolved

    def record(
        self, case: Case, amount_minor: int, promised_for: date, owed_minor: int, call_sid: str
    ) -> None:
        """A promise made on call `call_sid` (once per call)."""
        p = collections_promises.c
        check_at = datetime.combine(
            promised_for + timedelta(days=1), CHECK_AT, tzinfo=ZoneInfo(case.timezone)
        ).astimezone(UTC)
        with self.db.begin() as conn:
            if conn.execute(select(p.id).where(p.call_sid == call_sid)).first() is not None:
                return
            conn.execute(
                insert(collections_promises).values(
                    case_id=case.id, amount_minor=amount_minor, promised_for=promised_for,
                    owed_minor=owed_minor, state="open", check_at=check_at, call_sid=call_sid,
                    created_at=self.cases.clock(),
                )
            )  # fmt: skip

    def for_case(self, case_id: int) -> list[Promise]:
        p = collections_promises.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_promises).where(p.case_id == case_id).order_by(p.id)
            ).all()
        return [_promise(r._mapping) for r in rows]

    def run_due(self) -> int:
        """Check every open promise whose time has come; how many were settled."""
        if self.billing is None:
            return 0
        now = self.cases.clock()
        p = collections_promises.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_promises).where(
                    p.state == "open", p.check_at <= now.astimezone(UTC)
                )
            ).all()
        return sum(1 for r in rows if self._check(_promise(r._mapping), now))

    def _check(self, promise: Promise, now: datetime) -> bool:
        if not self._claim(promise, now + LEASE):  # another worker has it
            return False
        case = self.cases.get(promise.case_id)
        if case.state is not CaseState.PROMISED:  # paid, a plan, closed meanwhile
            self._settle(promise, "kept" if case.state is not CaseState.CLOSED else "broken")
            return True
        assert self.billing is not None
        try:
            owed = self.billing.owed_minor(case.account)
        except FlagProblem as exc:
            log.warning("collections: promise %s not checked yet: %s", promise.id, exc)
            self._claim(replace(promise, check_at=now + LEASE), now + RETRY)
            return False
        what = f"the promise of {_money(promise.amount_minor)} by {promise.promised_for}"
        kept = owed <= promise.owed_minor - promise.amount_minor
        # the case first: should this stop halfway, the promise is checked again (by the
        # case's state, then) once its lease is over
        if kept and owed <= 0:
            self.cases.move(case.id, CaseState.PAID, f"{what} was kept")
            self.on_resolved(self.cases.move(case.id, CaseState.RESOLVED, "paid in full"))
        else:
            why = f"{what} was kept, {_money(owed)} still owed" if kept else f"{what} was not kept"
            self.cases.move(case.id, CaseState.CONTACTING, why)
            self.cases.restart_contact(case.id)
        self._settle(promise, "kept" if kept else "broken")
        return True

    def _claim(self, promise: Promise, check_at: datetime | None) -> bool:
        """Move the promise's check time from what it was read with to `check_at`, once (a
        claim: a lease that runs out if the check never finishes)."""
        p = collections_promises.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_promises)
                    .where(p.id == promise.id, p.state == "open", p.check_at == promise.check_at)
                    .values(check_at=check_at)
                ).rowcount
            )

    def _settle(self, promise: Promise, state: str) -> None:
        p = collections_promises.c
        with self.db.begin() as conn:
            conn.execute(update(collections_promises).where(p.id == promise.id).values(state=state))


def _promise(row: Any) -> Promise:
    return Promise(
        id=int(row["id"]),
        case_id=int(row["case_id"]),
        amount_minor=int(row["amount_minor"]),
        promised_for=row["promised_for"],
        owed_minor=int(row["owed_minor"]),
        state=row["state"],
        check_at=as_utc(row["check_at"]) if row["check_at"] else None,
    )
