"""Payment plans of collections cases in SQL: a plan of 1, 2 or 3 monthly payments, each a
child payment with its date and state; the first is taken during the call (its card saved as a
token), the others are claimed and charged on their dates (instalments.py)."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, update

from foundation.clock import as_utc
from ivr.collections.cases import Case, NotAllowed, UnknownCase
from ivr.collections.tables import collections_payments, collections_plans

MAX_MONTHS = 3
CHARGE_AT = time(9, 0)  # scheduled payments are charged from this time on their date


class PlanState(StrEnum):
    PENDING_CARD = "pending_card"  # agreed; the first payment is being taken
    ACTIVE = "active"
    RESOLVED = "resolved"  # every payment taken
    FAILED = "failed"  # a payment could not be taken after every try


class PaymentState(StrEnum):
    SCHEDULED = "scheduled"
    CHARGING = "charging"  # claimed by a worker: a charge is under way
    TAKEN = "taken"
    FAILED = "failed"


@dataclass(frozen=True)
class Instalment:
    id: int
    plan_id: int
    case_id: int
    n: int
    amount_minor: int
    due_date: date
    state: PaymentState
    attempts: int
    next_try_at: datetime | None
    session_id: str | None
    confirmation_code: str | None
    last_error: str | None

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "amount": f"{self.amount:.2f}",
            "due_date": self.due_date.isoformat(),
            "state": self.state.value,
            "attempts": self.attempts,
            "confirmation_code": self.confirmation_code,
        }


@dataclass(frozen=True)
class PaymentPlan:
    id: int
    case_id: int
    state: PlanState
    months: int
    card_token: str | None
    instalments: tuple[Instalment, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the card token stays out)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "months": self.months,
            "first_amount": f"{self.instalments[0].amount:.2f}",
            "schedule": [i.as_dict() for i in self.instalments],
        }


def split(amount_minor: int, months: int) -> list[int]:
    """`amount_minor` in `months` parts as equal as pennies allow (the odd pennies first)."""
    base, odd = divmod(amount_minor, months)
    return [base + (1 if n < odd else 0) for n in range(months)]


def monthly(first: date, months: int) -> list[date]:
    """`first`, then the same day of each following month (the month's last day when it is
    shorter)."""
    days = []
    for n in range(months):
        year, month = divmod(first.month - 1 + n, 12)
        year += first.year
        last = calendar.monthrange(year, month + 1)[1]
        days.append(date(year, month + 1, min(first.day, last)))
    return days


class Plans:
    """The plans and payments tables (of the cases' database)."""

    def __init__(self, db: Engine, clock: Callable[[], datetime]):
        self.db = db
        self.clock = clock

    def create(self, case: Case, months: int, today: date) -> PaymentPlan:
        """A plan of `months` monthly payments of the case's amount, the first due today;
        NotAllowed when the case is not open or already has a plan in force."""
        if not 1 <= months <= MAX_MONTHS:
            raise NotAllowed(f"a plan has 1 to {MAX_MONTHS} monthly payments, not {months}")
        if not case.is_open:
            raise NotAllowed(f"case {case.id} is {case.state.value}: no plan can be set up")
        now = self.clock()
        p = collections_plans.c
        with self.db.begin() as conn:
            in_force = conn.execute(
                select(p.id).where(
                    p.case_id == case.id,
                    p.state.in_([PlanState.ACTIVE.value, PlanState.PENDING_CARD.value]),
                )
            ).first()
            if in_force is not None:
                # one still waiting for its first payment is replaced (the caller chose again)
                conn.execute(
                    update(collections_plans)
                    .where(p.case_id == case.id, p.state == PlanState.PENDING_CARD.value)
                    .values(state=PlanState.FAILED.value, updated_at=now)
                )
                active = conn.execute(
                    select(p.id).where(p.case_id == case.id, p.state == PlanState.ACTIVE.value)
                ).first()
                if active is not None:
                    raise NotAllowed(f"case {case.id} already has plan {active.id} in force")
            inserted = conn.execute(
                insert(collections_plans).values(
                    case_id=case.id, state=PlanState.PENDING_CARD.value, months=months,
                    card_token=None, created_at=now, updated_at=now,
                )
            ).inserted_primary_key  # fmt: skip
            assert inserted is not None
            plan_id = int(inserted[0])
            for n, (amount, due) in enumerate(
                zip(split(case.amount_minor, months), monthly(today, months), strict=True),
                start=1,
            ):
                conn.execute(
                    insert(collections_payments).values(
                        plan_id=plan_id, case_id=case.id, n=n, amount_minor=amount,
                        due_date=due, state=PaymentState.SCHEDULED.value, attempts=0,
                        next_try_at=None, updated_at=now,
                    )
                )  # fmt: skip
        return self.get(plan_id)

    def get(self, plan_id: int) -> PaymentPlan:
        with self.db.connect() as conn:
            row = conn.execute(
                select(collections_plans).where(collections_plans.c.id == plan_id)
            ).first()
            if row is None:
                raise UnknownCase(f"no payment plan {plan_id}")
            payments = conn.execute(
                select(collections_payments)
                .where(collections_payments.c.plan_id == plan_id)
                .order_by(collections_payments.c.n)
            ).all()
        plan = row._mapping
        return PaymentPlan(
            id=int(plan["id"]),
            case_id=int(plan["case_id"]),
            state=PlanState(plan["state"]),
            months=int(plan["months"]),
            card_token=plan["card_token"],
            instalments=tuple(_instalment(r._mapping) for r in payments),
        )

    def for_case(self, case_id: int) -> list[PaymentPlan]:
        with self.db.connect() as conn:
            ids = conn.execute(
                select(collections_plans.c.id)
                .where(collections_plans.c.case_id == case_id)
                .order_by(collections_plans.c.id)
            ).scalars()
            found = list(ids)
        return [self.get(i) for i in found]

    def start(
        self,
        plan_id: int,
        card_token: str,
        session_id: str,
        confirmation_code: str,
        zone: str = "UTC",
    ) -> PaymentPlan:
        """The first payment was taken (`session_id`, its card saved as `card_token`): the
        plan is in force and the others are due on their dates. The same session again
        changes nothing."""
        now = self.clock()
        p, k = collections_plans.c, collections_payments.c
        plan = self.get(plan_id)
        first = plan.instalments[0]
        if plan.state is PlanState.ACTIVE and first.session_id == session_id:
            return plan
        if plan.state is not PlanState.PENDING_CARD:
            raise NotAllowed(f"plan {plan_id} is {plan.state.value}: its first payment is over")
        with self.db.begin() as conn:
            started = conn.execute(
                update(collections_plans)
                .where(p.id == plan_id, p.state == PlanState.PENDING_CARD.value)
                .values(state=PlanState.ACTIVE.value, card_token=card_token, updated_at=now)
            ).rowcount
            if not started:
                raise NotAllowed(f"plan {plan_id} changed meanwhile: it was not started")
            conn.execute(
                update(collections_payments)
                .where(k.id == first.id)
                .values(
                    state=PaymentState.TAKEN.value, attempts=1, session_id=session_id,
                    confirmation_code=confirmation_code, updated_at=now,
                )
            )  # fmt: skip
            for later in plan.instalments[1:]:
                # 09:00 on the due date where the customer lives
                due_at = datetime.combine(
                    later.due_date, CHARGE_AT, tzinfo=ZoneInfo(zone)
                ).astimezone(UTC)
                conn.execute(
                    update(collections_payments)
                    .where(k.id == later.id)
                    .values(next_try_at=due_at, updated_at=now)
                )
        return self.get(plan_id)

    # -- the scheduled payments -------------------------------------------------------------

    def due(self, now: datetime, limit: int = 200) -> list[Instalment]:
        """Scheduled payments of plans in force whose time has come."""
        k, p = collections_payments.c, collections_plans.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_payments)
                .join(collections_plans, p.id == k.plan_id)
                .where(
                    k.state == PaymentState.SCHEDULED.value,
                    k.next_try_at <= now.astimezone(UTC),
                    p.state == PlanState.ACTIVE.value,
                )
                .order_by(k.next_try_at, k.id)
                .limit(limit)
            ).all()
        return [_instalment(r._mapping) for r in rows]

    def stuck(self, before: datetime) -> list[Instalment]:
        """Payments claimed before `before` and never settled (a worker stopped mid-charge,
        or the gateway was still answering): charged again with the same key."""
        k = collections_payments.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_payments).where(
                    k.state == PaymentState.CHARGING.value, k.updated_at < before.astimezone(UTC)
                )
            ).all()
        return [_instalment(r._mapping) for r in rows]

    def claim(self, payment: Instalment) -> Instalment | None:
        """Take a due payment for this worker (its attempt counted), or None when another
        worker took it first."""
        k = collections_payments.c
        with self.db.begin() as conn:
            taken = conn.execute(
                update(collections_payments)
                .where(
                    k.id == payment.id,
                    k.state == PaymentState.SCHEDULED.value,
                    k.attempts == payment.attempts,
                )
                .values(
                    state=PaymentState.CHARGING.value,
                    attempts=payment.attempts + 1,
                    updated_at=self.clock().astimezone(UTC),
                )
            ).rowcount
        return self.payment(payment.id) if taken else None

    def touch(self, payment_id: int) -> None:
        """A charge still under way: looked at again later."""
        k = collections_payments.c
        with self.db.begin() as conn:
            conn.execute(
                update(collections_payments)
                .where(k.id == payment_id, k.state == PaymentState.CHARGING.value)
                .values(updated_at=self.clock().astimezone(UTC))
            )

    def settle(self, payment: Instalment, state: PaymentState, **values: Any) -> bool:
        """Record how a claimed payment's charge ended, once (False: another worker did)."""
        k = collections_payments.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_payments)
                    .where(
                        k.id == payment.id,
                        k.state == PaymentState.CHARGING.value,
                        k.attempts == payment.attempts,
                    )
                    .values(state=state.value, updated_at=self.clock().astimezone(UTC), **values)
                ).rowcount
            )

    def end_plan(self, plan_id: int, state: PlanState) -> bool:
        """Resolve (or fail) a plan in force, once."""
        p = collections_plans.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_plans)
                    .where(p.id == plan_id, p.state == PlanState.ACTIVE.value)
                    .values(state=state.value, updated_at=self.clock().astimezone(UTC))
                ).rowcount
            )

    def payment(self, payment_id: int) -> Instalment:
        with self.db.connect() as conn:
            row = conn.execute(
                select(collections_payments).where(collections_payments.c.id == payment_id)
            ).first()
        if row is None:
            raise UnknownCase(f"no scheduled payment {payment_id}")
        return _instalment(row._mapping)


def _instalment(row: Any) -> Instalment:
    return Instalment(
        id=int(row["id"]),
        plan_id=int(row["plan_id"]),
        case_id=int(row["case_id"]),
        n=int(row["n"]),
        amount_minor=int(row["amount_minor"]),
        due_date=row["due_date"],
        state=PaymentState(row["state"]),
        attempts=int(row["attempts"]),
        next_try_at=as_utc(row["next_try_at"]) if row["next_try_at"] else None,
        session_id=row["session_id"],
        confirmation_code=row["confirmation_code"],
        last_error=row["last_error"],
    )
