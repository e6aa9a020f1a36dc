"""Taking money, written once: charge under the session's idempotency key, ask the gateway by
that key when it did not answer, record the attempt, and end the session on the answer.

Used by the payment leg (a card keyed by the caller), stored-card payments (a token) and the
settling of lost legs (nothing is charged there: the gateway is only asked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from pci_bridge.codes import new_code
from pci_bridge.gateway import Card, ChargeResult, Gateway
from pci_bridge.kinds import ChargeStatus, Outcome, SessionState
from pci_bridge.ledger import Ledger
from pci_bridge.lifecycle import IN_PROGRESS, Lifecycle
from pci_bridge.records import AttemptRow, CardSummary, GatewayAnswer, PaymentResult, SessionRow

log = logging.getLogger("pci_bridge")


def charge_key(session_id: str, n: int) -> str:
    """The gateway's idempotency key for the `n`th card of a session."""
    return f"{session_id}:{n}"


class Charging:
    """Charges, records and concludes for every kind of payment."""

    def __init__(
        self, lifecycle: Lifecycle, ledger: Ledger, gateway: Gateway, clock: Callable[[], datetime]
    ):
        self.lifecycle = lifecycle
        self.ledger = ledger
        self.gateway = gateway
        self.clock = clock

    def attempt(
        self,
        session: SessionRow,
        n: int,
        *,
        card: Card | None = None,
        token: str | None = None,
        save_card: bool = False,
        caller_waits: bool = False,
        forget: Callable[[], None] = lambda: None,
        said_by: logging.Logger = log,
        call: str = "",
    ) -> ChargeResult | None:
        """Charge the `n`th card of a session (a keyed `card` or a stored `token`) and record
        the answer. When the gateway does not answer, it may have charged all the same: it is
        asked by the charge's key. None when it has no answer either: the session then ends
        as a gateway error. `forget` runs as soon as the gateway has answered or failed to
        (the leg deletes its card data there). With `caller_waits`, a gateway that cannot
        even be asked counts as no answer (the caller must hear something); otherwise that
        error goes up and the session is settled later. `said_by` and `call` (a CallSid) say
        whose log tells of a failure."""
        key = charge_key(session.id, n)
        try:
            answer = self.gateway.charge(
                key=key,
                amount=Decimal(session.amount),
                currency=session.currency,
                card=card,
                token=token,
                save_card=save_card,
            )
        except Exception:
            said_by.exception(
                "%sthe gateway did not answer for session %s",
                f"[{call}] " if call else "",
                session.id,
            )
            found = self._ask_carefully(key, said_by) if caller_waits else self.gateway.lookup(key)
            if found is None:
                self.lifecycle.finish(
                    session.id,
                    SessionState.FAILED,
                    unanswered_result(n, self.gateway.name),
                    only_if=IN_PROGRESS,
                )
                return None
            answer = found
        finally:
            forget()
        self.record(session.id, n, answer)
        return answer

    def record(self, session_id: str, n: int, answer: ChargeResult) -> None:
        self.ledger.add_attempt(
            AttemptRow(
                session_id=session_id,
                n=n,
                brand=answer.brand,
                last4=answer.last4,
                exp_month=answer.exp_month,
                exp_year=answer.exp_year,
                outcome=answer.status,
                gateway_reference=answer.reference,
                decline_code=answer.decline_code,
                message=answer.message,
                at=self.clock().isoformat(),
            )
        )

    def conclude(self, session_id: str, n: int, answer: ChargeResult) -> tuple[PaymentResult, bool]:
        """End a session in progress on the gateway's answer to its `n`th card: completed,
        or failed. (The result, whether this ended the session.)"""
        if answer.status == ChargeStatus.SUCCESS:
            state, result = SessionState.COMPLETED, success_result(answer, n, self.gateway.name)
        else:
            state, result = SessionState.FAILED, failure_result(answer, n, self.gateway.name)
        ended = self.lifecycle.finish(session_id, state, result, only_if=IN_PROGRESS)
        stored = self.ledger.session(session_id)  # as stored: its code is unique in the ledger
        return (stored.result if stored is not None and stored.result else result), ended

    def _ask_carefully(self, key: str, said_by: logging.Logger) -> ChargeResult | None:
        try:
            return self.gateway.lookup(key)
        except Exception:
            said_by.exception("the gateway cannot be asked about charge %s", key)
            return None


def unanswered_result(attempts: int, gateway: str) -> PaymentResult:
    """The gateway did not answer: the charge may or may not have happened."""
    return PaymentResult(
        Outcome.GATEWAY_ERROR,
        attempts,
        gateway=GatewayAnswer(gateway, message="the gateway did not answer"),
    )


def card_summary(answer: ChargeResult) -> CardSummary | None:
    if not answer.brand:
        return None
    return CardSummary(answer.brand, answer.last4, answer.exp_month, answer.exp_year)


def success_result(answer: ChargeResult, attempts: int, gateway: str) -> PaymentResult:
    return PaymentResult(
        Outcome.SUCCESS,
        attempts,
        new_code(),  # the ledger draws again if another payment has it
        card_summary(answer),
        answer.token,
        GatewayAnswer(gateway, answer.reference),
    )


def failure_result(answer: ChargeResult, attempts: int, gateway: str) -> PaymentResult:
    outcome = Outcome.DECLINED if answer.status == ChargeStatus.DECLINED else Outcome.GATEWAY_ERROR
    return PaymentResult(
        outcome,
        attempts,
        card=card_summary(answer),
        gateway=GatewayAnswer(gateway, answer.reference, answer.decline_code, answer.message),
    )
