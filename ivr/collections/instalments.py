"""Scheduled payments taken on their dates: each due payment is claimed in SQL by one worker,
charged through the PCI bridge with the plan's saved card token and a key of its own attempt
(`collections-DEPLOYMENT-payment-ID-ATTEMPT`, recorded when the payment is claimed: a worker
that stops mid-charge, or a charge still with the gateway, is charged again with the same key
and gets the first result, so one charge whatever the retries), the customer told by text and
email; a declined payment is tried again after a gap, up to a number of tries; when every
payment is taken the plan, then the case, is resolved and the account's flag removed, and a
payment that cannot be taken fails the plan and sends the case back to contacting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from ivr.collections.bridge import BridgeClient, BridgeProblem, BridgeRefused
from ivr.collections.cases import Case, Cases, CaseState
from ivr.collections.notices import Notifier, money
from ivr.collections.plans import Instalment, PaymentState, Plans, PlanState
from ivr.collections.schedules import PlanLimits

log = logging.getLogger("ivr.collections")

STUCK_AFTER = timedelta(minutes=2)  # a claimed payment still unsettled: charged again


@dataclass(frozen=True)
class Charged:
    payment: Instalment
    outcome: str  # success, declined, gateway_error... or pending (still with the gateway)


class Instalments:
    def __init__(
        self,
        plans: Plans,
        cases: Cases,
        bridge: BridgeClient,
        notifier: Notifier,
        on_resolved: Callable[[Case], None],
        limits: PlanLimits | None = None,
    ):
        self.plans = plans
        self.cases = cases
        self.bridge = bridge
        self.notifier = notifier
        self.on_resolved = on_resolved
        self.limits = limits or PlanLimits()

    def run_due(self) -> list[Charged]:
        """Charge every payment due now (and any left unsettled by a stopped worker)."""
        now = self.cases.clock()
        done = []
        for payment in self.plans.stuck(now - STUCK_AFTER):
            done.extend(self._try(payment))
        for payment in self.plans.due(now):
            claimed = self.plans.claim(payment)
            if claimed is not None:  # else another worker has it
                done.extend(self._try(claimed))
        return done

    def _try(self, payment: Instalment) -> list[Charged]:
        """Charge one claimed payment; a failure is logged and the payment, still claimed,
        is charged again with the same key once it is stuck (the others go on)."""
        try:
            return [self._charge(payment)]
        except Exception:
            log.exception("collections: payment %s: the charge failed (tried again)", payment.id)
            return []

    def _charge(self, payment: Instalment) -> Charged:
        plan = self.plans.get(payment.plan_id)
        case = self.cases.get(payment.case_id)
        assert plan.card_token is not None, "a plan in force has its card"
        try:
            view = self.bridge.charge(
                plan.card_token,
                f"{payment.amount:.2f}",
                case.currency,
                f"{case.account}/plan-{plan.id}/{payment.n}",
                # claimed before keys were recorded (an older release): the key it had then
                payment.charge_key or f"collections-payment-{payment.id}-{payment.attempts}",
            )
        except BridgeProblem as exc:
            log.warning("collections: payment %s not charged yet: %s", payment.id, exc)
            self.plans.touch(payment.id)
            return Charged(payment, "pending")
        except BridgeRefused as exc:  # counts as a failed try, told like a decline
            log.error("collections: payment %s: %s", payment.id, exc)
            view = {"result": {"outcome": "refused", "gateway": {"message": "not accepted"}}}
        result = view.get("result") or {}
        outcome = str(result.get("outcome") or "")
        if not outcome:  # the gateway is still answering: looked at again later
            self.plans.touch(payment.id)
            return Charged(payment, "pending")
        when = f"{payment.due_date.day} {payment.due_date:%B %Y}"
        amount = money(payment.amount, case.currency)
        if outcome == "success":
            code = str(result.get("confirmation_code") or "")
            if self.plans.settle(
                payment, PaymentState.TAKEN, session_id=view.get("session_id"),
                confirmation_code=code, last_error=None,
            ):  # fmt: skip
                self.notifier.tell(
                    case,
                    "payment taken",
                    f"we took payment {payment.n} of {plan.months} of your plan, {amount}, "
                    f"due {when}. Confirmation code {code}.",
                )
                self.resolve_if_done(plan.id, case)
            return Charged(payment, outcome)
        reason = str((result.get("gateway") or {}).get("message") or outcome)
        if payment.attempts < self.limits.max_tries:
            retry_at = self.cases.clock() + self.limits.retry_gap
            if self.plans.settle(
                payment, PaymentState.SCHEDULED, next_try_at=retry_at,
                session_id=view.get("session_id"), last_error=reason,
            ):  # fmt: skip
                self.notifier.tell(
                    case,
                    "payment not taken",
                    f"we could not take payment {payment.n} of your plan, {amount} ({reason}). "
                    f"We will try again on {retry_at.day} {retry_at:%B}. Please make sure it "
                    "can be paid, or call us.",
                )
            return Charged(payment, outcome)
        if self.plans.settle(
            payment, PaymentState.FAILED, session_id=view.get("session_id"), last_error=reason
        ):
            self.plans.end_plan(plan.id, PlanState.FAILED)
            self.cases.move(
                case.id,
                CaseState.CONTACTING,
                f"payment {payment.n} of plan {plan.id} failed {payment.attempts} times ({reason})",
            )
            self.cases.restart_contact(case.id)  # the contact policy starts again
            self.notifier.tell(
                case,
                "payment plan stopped",
                f"we could not take payment {payment.n} of your plan, {amount}, after "
                f"{payment.attempts} tries ({reason}). Please call us to pay.",
            )
        return Charged(payment, outcome)

    def resolve_if_done(self, plan_id: int, case: Case) -> None:
        """Every payment of the plan taken: the plan, then the case, resolved (once)."""
        plan = self.plans.get(plan_id)
        if any(p.state is not PaymentState.TAKEN for p in plan.instalments):
            return
        if not self.plans.end_plan(plan_id, PlanState.RESOLVED):
            return
        resolved = self.cases.move(
            case.id, CaseState.RESOLVED, f"every payment of plan {plan_id} taken"
        )
        self.on_resolved(resolved)
