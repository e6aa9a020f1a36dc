"""Outbound collections calls: placed through Twilio's REST API (`calls.create`, answering
machine detection on) to be answered by the campaign's outbound plan through the voice
webhooks; settled afterwards from the call's record (answered, voicemail, no answer, busy) and
what the customer did on it (paid, promised, set up a plan) moves the case; a promise is kept
to be checked after its date (promises.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from twilio.base.exceptions import TwilioException, TwilioRestException

from ivr.collections.cases import MOVES, Case, Cases, CaseState
from ivr.collections.config import CollectionsConfig
from ivr.collections.notices import Sent
from ivr.collections.plans import PaymentState, Plans, PlanState
from ivr.collections.promises import Promises

log = logging.getLogger("ivr.collections")

PLACED = "placed"  # a call contact's result until its record says how it went
STATUS_RESULTS = {"busy": "busy", "no-answer": "no_answer", "failed": "failed",
                  "canceled": "no_answer"}  # fmt: skip
NO_RECORD_AFTER = timedelta(hours=2)  # a placed call with no record by then: failed
# What the customer did on the call (the record's outcome) → where the case goes.
OUTCOME_STATES = {
    "PaymentTaken": CaseState.PAID,
    "ChargedNotConfirmed": CaseState.PAID,
    "PromiseToPay": CaseState.PROMISED,
    "PlanScheduled": CaseState.PLAN_SCHEDULED,
}
VOICEMAIL = "Voicemail"  # the outbound plan's outcome when a machine answered


class OutboundCalls:
    """Places a case's call: Twilio rings the customer from `from_number` and requests
    `{webhook_base}/voice/outbound?campaign=..&case=..` once someone (or something) answers."""

    def __init__(self, client: Any, from_number: str, webhook_base: str):
        self.client = client
        self.from_number = from_number
        self.webhook_base = webhook_base.rstrip("/")

    def place(self, case: Case) -> Sent:
        query = urlencode({"campaign": case.campaign, "case": str(case.id)})
        try:
            call = self.client.calls.create(
                to=case.phone,
                from_=self.from_number,
                url=f"{self.webhook_base}/voice/outbound?{query}",
                status_callback=f"{self.webhook_base}/voice/status",
                machine_detection="Enable",
                timeout=30,
            )
        except TwilioRestException as exc:
            return Sent("failed", f"Twilio refused the call ({exc.status}, code {exc.code})")
        except (TwilioException, OSError) as exc:
            return Sent("failed", f"Twilio did not answer ({type(exc).__name__})")
        return Sent(PLACED, str(call.sid))


class CallOutcomes:
    """Settles placed calls from their records (`find_record(call_sid)`: the engine's call
    records) and moves each case by what the customer did."""

    def __init__(
        self,
        cases: Cases,
        config: CollectionsConfig,
        find_record: Callable[[str], Any],
        on_resolved: Callable[[Case], None],
        promises: Promises | None = None,
        plans: Plans | None = None,
    ):
        self.cases = cases
        self.config = config
        self.find_record = find_record
        self.on_resolved = on_resolved
        self.promises = promises
        self.plans = plans

    def settle(self) -> int:
        """Settle every placed call whose record is written; how many were."""
        settled = 0
        now = self.cases.clock()
        for contact_id, case_id, call_sid, at in self.cases.placed_calls():
            record = self.find_record(call_sid)
            if record is None:
                if now - at > NO_RECORD_AFTER:
                    self.cases.settle_contact(contact_id, "failed", f"{call_sid}: no record")
                    settled += 1
                continue
            result = self._result(record)
            if not self.cases.settle_contact(contact_id, result, f"{call_sid}: {record.outcome}"):
                continue  # another worker settled it
            settled += 1
            self._move(case_id, record)
        return settled

    @staticmethod
    def _result(record: Any) -> str:
        if record.end_status in STATUS_RESULTS:
            return STATUS_RESULTS[record.end_status]
        if record.outcome == VOICEMAIL:
            return "voicemail"
        return "answered"

    def _move(self, case_id: int, record: Any) -> None:
        target = OUTCOME_STATES.get(record.outcome)
        if target is None:
            return
        case = self.cases.get(case_id)
        data = _data(record)
        if target is CaseState.PAID and data.get("PlanFirst"):  # a plan's first payment
            target = CaseState.PLAN_SCHEDULED
        why = f"{record.outcome} on call {record.call_sid}"
        if target is CaseState.PAID and case.state is CaseState.PLAN_SCHEDULED:
            self._paid_off(case, _amount(data.get("PayAmount")), why)
            return
        if target is CaseState.PAID:
            paid = _amount(data.get("PayAmount"))
            if paid is None or paid < case.amount_due:
                what = f"{paid:.2f}" if paid is not None else "an amount"
                self.cases.note(case_id, f"paid {what} of {case.amount_due:.2f}: {why}")
                return
        if case.state is target:
            return  # the plan's own request moved it already
        if target not in MOVES[case.state]:
            self.cases.note(case_id, f"{why} (the case is {case.state.value}: not moved)")
            return
        moved = self.cases.move(case_id, target, why)
        if target is CaseState.PROMISED:
            self._promised(moved, data, record.call_sid)
        if target is CaseState.PAID:
            resolved = self.cases.move(case_id, CaseState.RESOLVED, "paid in full")
            self.on_resolved(resolved)

    def _paid_off(self, case: Case, paid: Decimal | None, why: str) -> None:
        """A payment on a call while a plan is in force: what it leaves to pay is cancelled
        when it covers it (the plan resolved, then the case), else it is only noted."""
        known = self.plans.for_case(case.id) if self.plans is not None else []
        plans = [p for p in known if p.state is PlanState.ACTIVE]
        left = sum(
            (i.amount for p in plans for i in p.instalments if i.state is PaymentState.SCHEDULED),
            Decimal("0"),
        )
        if self.plans is None or not plans or paid is None or paid < left:
            what = f"{paid:.2f}" if paid is not None else "an amount"
            self.cases.note(case.id, f"paid {what} while a plan is in force: {why}")
            return
        for plan in plans:
            self.plans.cancel_rest(plan.id)
        resolved = self.cases.move(
            case.id, CaseState.RESOLVED, f"paid the {left:.2f} left of the plan in full: {why}"
        )
        self.on_resolved(resolved)

    def _promised(self, case: Case, data: dict[str, str], call_sid: str) -> None:
        """Keep the promise made on the call, to be checked after its date."""
        if self.promises is None:
            return
        amount, owed = _amount(data.get("PromiseAmount")), _amount(data.get("TotalDue"))
        try:
            promised_for = date.fromisoformat(str(data.get("PromiseDate")))
        except ValueError:
            promised_for = None
        if amount is None or promised_for is None:
            self.cases.note(
                case.id, f"the promise on {call_sid} has no amount or date: not checked"
            )
            return
        owed_minor = int((owed if owed is not None else case.amount_due).scaleb(2))
        self.promises.record(case, int(amount.scaleb(2)), promised_for, owed_minor, call_sid)


def _data(record: Any) -> dict[str, str]:
    """The data sources the call's steps set, the last value of each."""
    data: dict[str, str] = {}
    for step in record.path:
        data.update(step.data)
    return data


def _amount(value: str | None) -> Decimal | None:
    try:
        return Decimal(str(value)) if value else None
    except InvalidOperation:
        return None


def outbound_data(case: Case, call_number: str) -> dict[str, str]:
    """The data sources an outbound call's plan starts with: the case, never a secret."""
    return {
        "Campaign": case.campaign,
        "CaseId": str(case.id),
        "AccountNumber": case.account,
        "CustomerName": case.name,
        "AmountDue": f"{case.amount_due:.2f}",
        "CallBackNumber": call_number,
    }
