"""Payment plans of collections cases in SQL: a schedule of payments (schedules.py), each a
child payment with its date and state. The card is saved as a token during the call: with the
first payment when it is due that day, else by a zero-amount verification; the payments not
taken during the call are claimed and charged on their dates (instalments.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from foundation.clock import as_utc
from ivr.collections.cases import ENDED, Case, NotAllowed, UnknownCase
from ivr.collections.schedules import Schedule
from ivr.collections.tables import (
    collections_cases,
    collections_meta,
    collections_payments,
    collections_plans,
)

CHARGE_AT = time(9, 0)  # scheduled payments are charged from this time on their date


class PlanState(StrEnum):
    PENDING_CARD = "pending_card"  # agreed; the card is being saved (and the first taken)
    ACTIVE = "active"
    RESOLVED = "resolved"  # every payment taken
    FAILED = "failed"  # a payment could not be taken after every try


class PaymentState(StrEnum):
    SCHEDULED = "scheduled"
    CHARGING = "charging"  # claimed by a worker: a charge is under way
    TAKEN = "taken"
    FAILED = "failed"
    CANCELLED = "cancelled"  # not needed: the case was paid in full another way


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
    charge_key: str | None = None  # the latest attempt's idempotency key

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
    months: int  # how many payments
    card_token: str | None
    card_session_id: str | None
    created_at: datetime
    instalments: tuple[Instalment, ...]

    @property
    def first(self) -> Instalment:
        return self.instalments[0]

    def next_due(self) -> Instalment | None:
        """The next payment still to be taken of a plan in force."""
        if self.state is not PlanState.ACTIVE:
            return None
        waiting = (PaymentState.SCHEDULED, PaymentState.CHARGING)
        return next((i for i in self.instalments if i.state in waiting), None)

    def session_amount(self, today: date) -> Decimal:
        """What the bridge session that saves the card takes: the first payment when it is
        due `today`, else nothing (a verification)."""
        return self.first.amount if self.first.due_date <= today else Decimal("0.00")

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the card token stays out)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "months": self.months,
            "first_amount": f"{self.instalments[0].amount:.2f}",
            "schedule": [i.as_dict() for i in self.instalments],
        }


class Plans:
    """The plans and payments tables (of the cases' database)."""

    def __init__(self, db: Engine, clock: Callable[[], datetime]):
        self.db = db
        self.clock = clock
        self._deployment: str | None = None

    @property
    def deployment(self) -> str:
        """This deployment's collections id (made when its tables were), which the charges'
        idempotency keys carry."""
        if self._deployment is None:
            m = collections_meta.c
            with self.db.connect() as conn:
                found = conn.execute(select(m.value).where(m.name == "deployment")).scalar()
            if found is None:  # its row was lost: a new id (no key of the old one is open)
                try:
                    with self.db.begin() as conn:
                        conn.execute(
                            insert(collections_meta).values(
                                name="deployment", value=secrets.token_hex(8)
                            )
                        )
                except IntegrityError:  # another process made it first
                    pass
                with self.db.connect() as conn:
                    found = conn.execute(select(m.value).where(m.name == "deployment")).scalar()
            self._deployment = str(found)
        return self._deployment

    def create(self, case: Case, schedule: Schedule) -> PaymentPlan:
        """A plan of the case paying `schedule` (schedules.py checked it); NotAllowed when the
        case is not open or already has a plan in force (one still waiting for its card is
        replaced: the caller chose again; see PlanStarts.create, which first asks the bridge
        whether that one's card was taken after all)."""
        if not case.is_open:
            raise NotAllowed(f"case {case.id} is {case.state.value}: no plan can be set up")
        try:
            plan_id = self._insert(case, schedule)
        except IntegrityError:  # another plan of the case was set up at the same moment
            raise NotAllowed(f"case {case.id} already has a plan being set up") from None
        return self.get(plan_id)

    def _insert(self, case: Case, schedule: Schedule) -> int:
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
            inserted = conn.execute(  # one plan in force per case (an index says so too)
                insert(collections_plans).values(
                    case_id=case.id, state=PlanState.PENDING_CARD.value, months=len(schedule),
                    card_token=None, created_at=now, updated_at=now,
                )
            ).inserted_primary_key  # fmt: skip
            assert inserted is not None
            plan_id = int(inserted[0])
            for n, (amount, due) in enumerate(schedule, start=1):
                conn.execute(
                    insert(collections_payments).values(
                        plan_id=plan_id, case_id=case.id, n=n, amount_minor=amount,
                        due_date=due, state=PaymentState.SCHEDULED.value, attempts=0,
                        next_try_at=None, updated_at=now,
                    )
                )  # fmt: skip
        return plan_id

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
            card_session_id=plan["card_session_id"],
            created_at=as_utc(plan["created_at"]),
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

    def pending(self, before: datetime) -> list[PaymentPlan]:
        """Plans set up before `before` still waiting for their card."""
        p = collections_plans.c
        with self.db.connect() as conn:
            ids = list(
                conn.execute(
                    select(p.id).where(
                        p.state == PlanState.PENDING_CARD.value,
                        p.created_at < before.astimezone(UTC),
                    )
                ).scalars()
            )
        return [self.get(i) for i in ids]

    def start(
        self,
        plan_id: int,
        card_token: str,
        session_id: str,
        confirmation_code: str,
        zone: str = "UTC",
        first_taken: bool = True,
    ) -> PaymentPlan:
        """The card was saved as `card_token` by bridge session `session_id`, which took the
        first payment (`first_taken`) or only verified the card: the plan is in force and its
        other payments are due on their dates. The same session again changes nothing."""
        now = self.clock()
        p, k = collections_plans.c, collections_payments.c
        plan = self.get(plan_id)
        if plan.state is not PlanState.PENDING_CARD and plan.card_session_id == session_id:
            return plan
        if plan.state is not PlanState.PENDING_CARD:
            raise NotAllowed(f"plan {plan_id} is {plan.state.value}: its card was settled already")
        with self.db.begin() as conn:
            started = conn.execute(
                update(collections_plans)
                .where(p.id == plan_id, p.state == PlanState.PENDING_CARD.value)
                .values(
                    state=PlanState.ACTIVE.value, card_token=card_token,
                    card_session_id=session_id, updated_at=now,
                )
            ).rowcount  # fmt: skip
            if not started:
                raise NotAllowed(f"plan {plan_id} changed meanwhile: it was not started")
            later = plan.instalments
            if first_taken:
                conn.execute(
                    update(collections_payments)
                    .where(k.id == plan.first.id)
                    .values(
                        state=PaymentState.TAKEN.value, attempts=1, session_id=session_id,
                        confirmation_code=confirmation_code, updated_at=now,
                    )
                )  # fmt: skip
                later = later[1:]
            for payment in later:
                # 09:00 on the due date where the customer lives
                due_at = datetime.combine(
                    payment.due_date, CHARGE_AT, tzinfo=ZoneInfo(zone)
                ).astimezone(UTC)
                conn.execute(
                    update(collections_payments)
                    .where(k.id == payment.id)
                    .values(next_try_at=due_at, updated_at=now)
                )
        return self.get(plan_id)

    def cancel_rest(self, plan_id: int) -> int:
        """The case was paid in full another way: the payments still scheduled are cancelled
        and the plan is resolved; how many were cancelled (a charge under way goes on)."""
        k = collections_payments.c
        with self.db.begin() as conn:
            cancelled = conn.execute(
                update(collections_payments)
                .where(k.plan_id == plan_id, k.state == PaymentState.SCHEDULED.value)
                .values(state=PaymentState.CANCELLED.value, updated_at=self.clock())
            ).rowcount
        self._move(plan_id, PlanState.ACTIVE, PlanState.RESOLVED)
        return int(cancelled)

    def give_up(self, plan_id: int) -> bool:
        """A plan whose card was never saved: failed, once."""
        return self._move(plan_id, PlanState.PENDING_CARD, PlanState.FAILED)

    # -- the scheduled payments -------------------------------------------------------------

    def due(self, now: datetime, limit: int = 200) -> list[Instalment]:
        """Scheduled payments of plans in force whose time has come."""
        k, p, c = collections_payments.c, collections_plans.c, collections_cases.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_payments)
                .join(collections_plans, p.id == k.plan_id)
                .join(collections_cases, c.id == k.case_id)
                .where(
                    k.state == PaymentState.SCHEDULED.value,
                    k.next_try_at <= now.astimezone(UTC),
                    p.state == PlanState.ACTIVE.value,
                    c.state.not_in([s.value for s in ENDED]),  # never on a case that is over
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
        """Take a due payment for this worker (its attempt counted, and the attempt's
        idempotency key recorded), or None when another worker took it first."""
        k = collections_payments.c
        attempt = payment.attempts + 1
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
                    attempts=attempt,
                    charge_key=f"collections-{self.deployment}-payment-{payment.id}-{attempt}",
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
        return self._move(plan_id, PlanState.ACTIVE, state)

    def _move(self, plan_id: int, now_in: PlanState, to: PlanState) -> bool:
        """The plan from `now_in` to `to`, once (False: it was not in `now_in`)."""
        p = collections_plans.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_plans)
                    .where(p.id == plan_id, p.state == now_in.value)
                    .values(state=to.value, updated_at=self.clock().astimezone(UTC))
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
        charge_key=row.get("charge_key"),
    )
