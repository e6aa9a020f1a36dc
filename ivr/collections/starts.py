"""A payment plan comes into force when the bridge session of the call saved its card: the
session is read from the bridge and checked (it succeeded, saved the card, was taken for this
plan in its currency, took the first payment when it was due that day and nothing otherwise),
then the plan starts and the case is `plan_scheduled`.

The call plan reports the session (`POST /plans/ID/card`), but that request can fail after the
money was taken (a network fault, the caller hanging up at that moment). So the bridge is also
asked, by the plan's reference, before a waiting plan is replaced by a new one and by the
periodic work for plans still waiting: a first payment already taken is never asked for
again, and a plan whose card never came is given up."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from foundation.clock import parse_utc
from ivr.collections.bridge import BridgeClient
from ivr.collections.cases import Case, Cases, CaseState, NotAllowed
from ivr.collections.instalments import Instalments
from ivr.collections.plans import PaymentPlan, Plans, PlanState
from ivr.collections.schedules import Schedule
from ivr.errors import CollectionsError

log = logging.getLogger("ivr.collections")

LOOK_AFTER = timedelta(minutes=15)  # a plan still waiting this long: ask the bridge
GIVE_UP_AFTER = timedelta(hours=2)  # ... and with no card saved by then, it is failed


class NotItsCard(NotAllowed):
    """The session named does not start this plan (what is wrong is said)."""


class CaseOver(NotAllowed):
    """The plan's card was saved (and its first payment maybe taken) after its case was
    over: the plan is given up and the case says what to refund."""


# a case in these states can have a plan come into force
OPEN_TO_PLANS = (CaseState.OPEN, CaseState.CONTACTING, CaseState.PROMISED, CaseState.PLAN_SCHEDULED)


def reference(case: Case, plan_id: int) -> str:
    """The reference a plan's card session carries on the bridge."""
    return f"{case.account}/plan-{plan_id}"


def set_up_day(plan: PaymentPlan, case: Case) -> date:
    """The day the plan was set up where the customer lives."""
    return plan.created_at.astimezone(ZoneInfo(case.timezone)).date()


class PlanStarts:
    def __init__(
        self,
        plans: Plans,
        cases: Cases,
        bridge: BridgeClient,
        instalments: Instalments | None,
    ):
        self.plans = plans
        self.cases = cases
        self.bridge = bridge
        self.instalments = instalments

    def create(self, case: Case, schedule: Schedule) -> PaymentPlan:
        """A new plan for the case; a plan of it still waiting for its card is first looked up
        on the bridge (so one whose first payment was taken starts, and the new one is
        refused, instead of the caller paying twice). One set up less than LOOK_AFTER ago
        whose card session has not ended may still be taking the payment: refused too."""
        now = self.cases.clock()
        for plan in self.plans.for_case(case.id):
            if plan.state is not PlanState.PENDING_CARD:
                continue
            ended = self.bridge.payments(reference(case, plan.id))  # its card sessions, ended
            after = self._reconcile(plan, case, ended)
            young = plan.created_at > now - LOOK_AFTER
            if after.state is PlanState.PENDING_CARD and young and not ended:
                raise NotAllowed(
                    f"plan {plan.id} of case {case.id} is still waiting for its card (a payment "
                    "may be under way): try again in a few minutes"
                )
        return self.plans.create(case, schedule)

    def start(self, plan_id: int, session_id: str) -> PaymentPlan:
        """Start the plan with the card bridge session `session_id` saved; NotItsCard when
        that session cannot start it."""
        plan = self.plans.get(plan_id)
        return self._start(plan, self.cases.get(plan.case_id), self.bridge.session(session_id))

    def reconcile(self, plan: PaymentPlan) -> PaymentPlan:
        """A plan waiting for its card: started when the bridge holds a session that saved it
        (the call's report was lost), else left as it is."""
        case = self.cases.get(plan.case_id)
        return self._reconcile(plan, case, self.bridge.payments(reference(case, plan.id)))

    def _reconcile(self, plan: PaymentPlan, case: Case, ended: list[dict[str, Any]]) -> PaymentPlan:
        """`reconcile`, given the plan's ended card sessions as the bridge lists them."""
        for found in ended:
            if found.get("outcome") != "success":
                continue
            session_id = str(found.get("session_id") or "")
            try:
                started = self._start(plan, case, self.bridge.session(session_id))
            except NotItsCard as exc:
                log.warning("collections: plan %s: %s", plan.id, exc)
                continue
            except CaseOver:
                return self.plans.get(plan.id)
            log.warning(
                "collections: plan %s started from bridge session %s (the call did not report it)",
                plan.id,
                session_id,
            )
            return started
        return plan

    def run_pending(self) -> None:
        """Plans waiting longer than a call lasts: started from the bridge, or given up."""
        now = self.cases.clock()
        for plan in self.plans.pending(now - LOOK_AFTER):
            try:
                after = self.reconcile(plan)
            except CollectionsError as exc:  # the bridge away or refusing, a race: next time
                log.warning("collections: plan %s not looked up yet: %s", plan.id, exc)
                continue
            if after.state is PlanState.PENDING_CARD and plan.created_at < now - GIVE_UP_AFTER:
                if self.plans.give_up(plan.id):
                    log.info("collections: plan %s given up: its card was never saved", plan.id)

    def _start(self, plan: PaymentPlan, case: Case, view: dict[str, Any]) -> PaymentPlan:
        session_id = str(view.get("session_id") or "")
        result = view.get("result") or {}
        if plan.state is not PlanState.PENDING_CARD and plan.card_session_id == session_id:
            return plan  # started by this session already
        expected = plan.session_amount(set_up_day(plan, case))
        problem = _not_its_card(view, result, expected)
        if not problem and view.get("currency") != case.currency:
            problem = f"it was taken in {view.get('currency')}, not the case's {case.currency}"
        if view.get("reference") != reference(case, plan.id):
            problem = f"it was not taken for this plan (reference {reference(case, plan.id)})"
        if not problem and _made(view) < plan.created_at - timedelta(minutes=1):
            problem = "it was made before the plan was set up"
        if problem:
            raise NotItsCard(f"session {session_id}: {problem}")
        if case.state not in OPEN_TO_PLANS:
            self._too_late(plan, case, session_id, str(result.get("confirmation_code")), expected)
        started = self.plans.start(
            plan.id,
            str(result["card_token"]),
            session_id,
            str(result.get("confirmation_code")),
            zone=case.timezone,
            first_taken=expected > 0,
        )
        self._scheduled(started, expected > 0)
        if self.instalments is not None:  # a plan of one payment is paid in full already
            self.instalments.resolve_if_done(started.id, self.cases.get(started.case_id))
            started = self.plans.get(plan.id)
        return started

    def _too_late(
        self, plan: PaymentPlan, case: Case, session_id: str, code: str, taken: Decimal
    ) -> None:
        """The card came after the case was over (paid another way, closed): the plan is
        given up, never charged, and the case says what the session took."""
        if self.plans.give_up(plan.id):
            what = (
                f"took {taken:.2f} {case.currency} (code {code}): refund it or apply it"
                if taken
                else "saved a card and took nothing"
            )
            log.error(
                "collections: plan %s of case %s (%s): bridge session %s %s",
                plan.id, case.id, case.state.value, session_id, what,
            )  # fmt: skip
            self.cases.note(
                case.id,
                f"plan {plan.id} given up: its card session {session_id} came after the case "
                f"was {case.state.value} and {what}",
            )
        raise CaseOver(f"case {case.id} is {case.state.value}: plan {plan.id} was not started")

    def _scheduled(self, plan: PaymentPlan, first_taken: bool) -> None:
        case = self.cases.get(plan.case_id)
        if case.state is CaseState.PLAN_SCHEDULED:
            return
        saved = (
            f"the first taken ({plan.first.confirmation_code})"
            if first_taken
            else f"card saved, the first due {plan.first.due_date}"
        )
        self.cases.move(
            case.id, CaseState.PLAN_SCHEDULED, f"plan {plan.id} of {plan.months} payments; {saved}"
        )


def _made(view: dict[str, Any]) -> datetime:
    """When the bridge made the session (long ago when it does not say)."""
    try:
        return parse_utc(str(view.get("created_at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _not_its_card(view: dict[str, Any], result: dict[str, Any], expected: Decimal) -> str:
    if result.get("outcome") != "success":
        return f"the payment did not succeed ({result.get('outcome') or view.get('state')})"
    if not result.get("card_token"):
        return "the card was not saved (create the session with save_card: true)"
    try:
        paid = Decimal(str(view.get("amount")))
    except (InvalidOperation, ValueError):
        return f"it took {view.get('amount')!r}, which is not an amount"
    if paid != expected:
        what = "the plan's first payment" if expected else "nothing (a card verification)"
        return f"it took {view.get('amount')}, not {what}"
    return ""
