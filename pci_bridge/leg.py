"""The payment leg: the caller keys the card, the bridge checks each field, confirms, charges,
and hangs up so the call returns to the plan.

Stages: number → expiry → code → (postcode) → confirm → charge → (another card after a
decline). Card fields are sealed (AES-GCM) in a separate short-lived key between prompts and
deleted as soon as the gateway answers. Each webhook carries a turn number: a repeated
delivery gets the saved answer and changes nothing (so a repeated confirm charges once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidTag
from twilio.twiml.voice_response import VoiceResponse

from foundation.money import speakable
from pci_bridge.cards import (
    BRAND_NAMES,
    Brand,
    CardProblem,
    brand_named,
    check_code,
    check_expiry,
    check_number,
    is_digits,
)
from pci_bridge.charging import failure_result
from pci_bridge.codes import spoken
from pci_bridge.crypto import CardBox
from pci_bridge.gateway import Card
from pci_bridge.keys import CALL_KEY, CALL_LOCK, CARD_KEY, LEG_KEY, SESSION_LOCK
from pci_bridge.kinds import ChargeStatus, Outcome, SessionState, Stage
from pci_bridge.lifecycle import IN_PROGRESS
from pci_bridge.records import PaymentResult, SessionRow
from pci_bridge.sessions import Sessions

log = logging.getLogger("pci_bridge.leg")

# What Leg.failure holds of a declined card's result (the rest is the session's), in the order
# it has always been stored in.
FAILURE_FIELDS = ("outcome", "card", "attempts", "gateway")


@dataclass
class Leg:
    session_id: str
    call_sid: str
    stage: Stage = Stage.NUMBER
    turn: int = 0
    tries: dict[str, int] | None = None
    cards: int = 0
    brand: str | None = None
    last4: str | None = None
    response: str = ""
    ended: bool = False
    failure: dict[str, Any] | None = None  # the last decline (FAILURE_FIELDS of its result),
    # reported if the caller stops
    language: str | None = None  # what the leg speaks (the session's; None: the bridge's own)

    def __post_init__(self) -> None:
        self.stage = Stage(self.stage)  # read back from JSON as a plain string

    def to_json(self) -> str:
        return json.dumps(vars(self))

    @classmethod
    def from_json(cls, text: str) -> Leg:
        return cls(**json.loads(text))


class PaymentLeg:
    """Answers the bridge's voice webhooks for one payment leg at a time per session."""

    def __init__(self, sessions: Sessions, box: CardBox, turn_url: Callable[[str, int], str]):
        self.sessions = sessions
        self.config = sessions.config
        self.state = sessions.state
        self.lifecycle = sessions.lifecycle
        self.charging = sessions.charging
        self.box = box
        self.turn_url = turn_url

    # -- webhooks -------------------------------------------------------------------------

    def incoming(self, call_sid: str, presented_clid: str) -> str:
        # One delivery at a time per call: a repeat that arrives while the first is still
        # being answered must get the same answer, not find the session already taken.
        with self.state.lock(CALL_LOCK.format(call_sid=call_sid)):
            return self._incoming(call_sid, presented_clid)

    def _incoming(self, call_sid: str, presented_clid: str) -> str:
        known = self.state.get(CALL_KEY.format(call_sid=call_sid))
        if known is not None:
            with self.state.lock(SESSION_LOCK.format(session_id=known)):
                leg = self._leg(known)
                if leg is not None:
                    return leg.response
        session = self.sessions.clids.live_session(presented_clid)
        if session is None or session.state != SessionState.CREATED:
            log.warning("[%s] no payment waits for CLID %s", call_sid, presented_clid)
            return self._goodbye(self._words(None, "not_found"))
        session_id = session.id
        with self.state.lock(SESSION_LOCK.format(session_id=session_id)):
            if not self.sessions.ledger.update(
                session_id, only_if=(SessionState.CREATED,), state=SessionState.IN_PROGRESS
            ):
                return self._goodbye(self._words(None, "not_found"))
            self.state.put(CALL_KEY.format(call_sid=call_sid), session_id, self.config.leg_ttl)
            leg = Leg(session_id, call_sid, tries={}, language=session.language)
            intro = self._words(
                leg,
                _named("intro", session),
                amount=self._amount(session),
                merchant=self.config.merchant_name,
            )
            log.info("[%s] payment leg for session %s started", call_sid, session_id)
            return self._ask(leg, [intro], Stage.NUMBER)

    def turn(self, session_id: str, turn: int, digits: str) -> str:
        with self.state.lock(SESSION_LOCK.format(session_id=session_id)):
            leg = self._leg(session_id)
            if leg is None:
                return self._goodbye(self._words(leg, "not_found"))
            if leg.ended or turn != leg.turn:
                return leg.response  # a repeated webhook: same answer, nothing runs again
            row = self.lifecycle.row(session_id)
            if row.state != SessionState.IN_PROGRESS:  # ended elsewhere (cancelled, ...)
                return self._end(leg, [self._words(leg, "ended")])
            if "*" in digits:
                self.lifecycle.finish(
                    session_id, SessionState.CANCELLED, PaymentResult(Outcome.CANCELLED, leg.cards)
                )
                return self._end(leg, [self._words(leg, "cancelled")])
            handler = getattr(self, f"_on_{leg.stage}")
            return handler(leg, row, digits)

    def ended(self, call_sid: str) -> None:
        """The leg's status callback: a session still in progress was abandoned."""
        session_id = self.state.get(CALL_KEY.format(call_sid=call_sid))
        if session_id is None:
            return
        with self.state.lock(SESSION_LOCK.format(session_id=session_id)):
            leg = self._leg(session_id)
            row = self.sessions.ledger.session(session_id)
            if row is not None and row.state == SessionState.IN_PROGRESS:
                self.sessions.recovery.settle(row)  # abandoned, unless the gateway charged
            if leg is not None and not leg.ended:
                leg.ended = True
                self._save(leg)

    # -- stages ---------------------------------------------------------------------------

    def _on_number(self, leg: Leg, row: SessionRow, digits: str) -> str:
        if not digits:
            return self._retry(leg, row, self._words(leg, "no_input"))
        try:
            brand = check_number(digits, self.config.accepted_brands)
        except CardProblem as problem:
            return self._retry(leg, row, self._problem(leg, problem))
        leg.brand, leg.last4 = brand.name, digits[-4:]
        self._seal(leg, number=digits)
        return self._ask(leg, [], Stage.EXPIRY)

    def _on_expiry(self, leg: Leg, row: SessionRow, digits: str) -> str:
        if not digits:
            return self._retry(leg, row, self._words(leg, "no_input"))
        today = self.sessions.clock().astimezone(ZoneInfo(self.config.timezone)).date()
        try:
            month, year = check_expiry(digits, today)
        except CardProblem as problem:
            return self._retry(leg, row, self._problem(leg, problem))
        self._seal(leg, expiry=f"{month:02d}{year}")
        return self._ask(leg, [], Stage.CODE)

    def _on_code(self, leg: Leg, row: SessionRow, digits: str) -> str:
        if not digits:
            return self._retry(leg, row, self._words(leg, "no_input"))
        try:
            check_code(digits, self._brand(leg))
        except CardProblem as problem:
            return self._retry(leg, row, self._problem(leg, problem))
        self._seal(leg, code=digits)
        return self._ask(leg, [], Stage.POSTCODE if self.config.ask_postcode else Stage.CONFIRM)

    def _on_postcode(self, leg: Leg, row: SessionRow, digits: str) -> str:
        if not digits or not is_digits(digits) or len(digits) > 8:
            return self._retry(
                leg,
                row,
                self._words(leg, "no_input")
                if not digits
                else self._words(leg, "invalid_postcode"),
            )
        self._seal(leg, postcode=digits)
        return self._ask(leg, [], Stage.CONFIRM)

    def _on_confirm(self, leg: Leg, row: SessionRow, digits: str) -> str:
        if digits == "2":
            self.lifecycle.finish(
                leg.session_id, SessionState.CANCELLED, PaymentResult(Outcome.CANCELLED, leg.cards)
            )
            return self._end(leg, [self._words(leg, "cancelled")])
        if digits != "1":
            return self._retry(
                leg,
                row,
                self._words(leg, "no_input") if not digits else self._words(leg, "press_1_or_2"),
            )
        return self._charge(leg, row)

    def _on_another(self, leg: Leg, row: SessionRow, digits: str) -> str:
        if digits == "1":
            leg.tries = {}
            return self._ask(leg, [], Stage.NUMBER)
        self.lifecycle.finish(
            leg.session_id,
            SessionState.FAILED,
            PaymentResult.from_json(leg.failure)
            if leg.failure
            else PaymentResult(Outcome.DECLINED),
            only_if=IN_PROGRESS,
        )
        return self._end(leg, [])

    # -- charging -------------------------------------------------------------------------

    def _charge(self, leg: Leg, row: SessionRow) -> str:
        fields = self._open(leg)
        if fields is None or not {"number", "expiry", "code"} <= set(fields):
            leg.tries = {}
            return self._ask(leg, [self._words(leg, "too_long")], Stage.NUMBER)
        leg.cards += 1
        card = Card(
            number=fields["number"],
            exp_month=int(fields["expiry"][:2]),
            exp_year=int(fields["expiry"][2:]),
            code=fields["code"],
            brand=leg.brand or "",
            postcode=fields.get("postcode"),
        )
        del fields
        session_id = leg.session_id
        try:
            answer = self.charging.attempt(
                row,
                leg.cards,
                card=card,
                save_card=bool(row.save_card),
                caller_waits=True,
                forget=lambda: self.state.delete(CARD_KEY.format(session_id=session_id)),
                said_by=log,
                call=leg.call_sid,
            )  # card data goes once the charge answers
        finally:
            del card
        if answer is None:  # it may or may not have charged: the caller must not pay again
            return self._end(leg, [self._words(leg, "gateway_unknown")])
        if answer.status == ChargeStatus.DECLINED:
            failure = failure_result(answer, leg.cards, self.charging.gateway.name)
            decline = failure.to_json()
            leg.failure = {name: decline[name] for name in FAILURE_FIELDS}
            if leg.cards < (row.max_cards or self.config.max_cards):
                reason = answer.message or self._words(leg, "no_reason")
                return self._ask(leg, [self._words(leg, "declined", reason=reason)], Stage.ANOTHER)
        result, _ = self.charging.conclude(session_id, leg.cards, answer)
        if answer.status == ChargeStatus.SUCCESS:
            code = spoken(result.confirmation_code or "")
            return self._end(
                leg,
                [
                    self._words(
                        leg,
                        _named("success", row),
                        amount=self._amount(row),
                        code=code,
                        brand=BRAND_NAMES.get(leg.brand or "", "card"),
                        last4=" ".join(leg.last4 or ""),
                    )
                ],
                returning=False,  # the result was the news; the call goes straight on
            )
        if answer.status == ChargeStatus.DECLINED:
            reason = answer.message or self._words(leg, "no_reason")
            return self._end(leg, [self._words(leg, "declined", reason=reason)])
        return self._end(leg, [self._words(leg, "gateway_error")])

    # -- helpers --------------------------------------------------------------------------

    def _retry(self, leg: Leg, row: SessionRow, reason: str) -> str:
        tries = leg.tries or {}
        tries[leg.stage] = tries.get(leg.stage, 0) + 1
        leg.tries = tries
        if tries[leg.stage] >= self.config.max_attempts:
            self.state.delete(CARD_KEY.format(session_id=leg.session_id))
            self.lifecycle.finish(
                leg.session_id,
                SessionState.FAILED,
                PaymentResult(Outcome.TOO_MANY_ATTEMPTS, leg.cards),
                only_if=IN_PROGRESS,
            )
            return self._end(leg, [reason, self._words(leg, "too_many")])
        return self._ask(leg, [reason], leg.stage)

    def _ask(self, leg: Leg, lead: list[str], stage: Stage) -> str:
        leg.stage = stage
        leg.turn += 1
        response = VoiceResponse()
        for text in lead:
            response.say(text, **self._voice(leg))
        url = self.turn_url(leg.session_id, leg.turn)
        attrs: dict[str, Any] = {
            "input": "dtmf",
            "action": url,
            "method": "POST",
            "timeout": self.config.input_timeout,
            "action_on_empty_result": True,
        }
        if stage in (Stage.NUMBER, Stage.POSTCODE):
            attrs["finish_on_key"] = "#"
        else:
            attrs["finish_on_key"] = ""
            attrs["num_digits"] = {
                Stage.EXPIRY: 4,
                Stage.CODE: self._brand(leg).code_length if leg.brand else 3,
            }.get(stage, 1)
        gather = response.gather(**attrs)
        gather.say(self._prompt(leg, stage), **self._voice(leg))
        response.redirect(url, method="POST")
        leg.response = str(response)
        self._save(leg)
        return leg.response

    def _prompt(self, leg: Leg, stage: Stage) -> str:
        if stage == Stage.CODE:
            return self._words(leg, "code", code_length=self._brand(leg).code_length)
        if stage == Stage.CONFIRM:
            row = self.lifecycle.row(leg.session_id)
            return self._words(
                leg,
                _named("confirm", row),
                amount=self._amount(row),
                brand=BRAND_NAMES.get(leg.brand or "", "card"),
                last4=" ".join(leg.last4 or ""),
            )
        if stage == Stage.ANOTHER:
            return self._words(leg, "another_card")
        return self._words(leg, stage)

    def _end(self, leg: Leg, lines: list[str], *, returning: bool = True) -> str:
        """Say `lines` (and, unless the card was taken, that the caller goes back to the
        main service), then hang up the leg."""
        response = VoiceResponse()
        for text in [*lines, *([self._words(leg, "returning")] if returning else [])]:
            response.say(text, **self._voice(leg))
        response.hangup()
        leg.ended = True
        leg.turn += 1
        leg.response = str(response)
        self._save(leg)
        self.state.delete(CARD_KEY.format(session_id=leg.session_id))
        return leg.response

    def _goodbye(self, text: str) -> str:
        response = VoiceResponse()
        response.say(text, **self._voice(None))
        response.hangup()
        return str(response)

    def _problem(self, leg: Leg, problem: CardProblem) -> str:
        return self._words(leg, problem.prompt, **problem.values)

    def _words(self, leg: Leg | None, name: str, **values: Any) -> str:
        """Prompt `name` in the leg's language (the bridge's own before a leg starts)."""
        return self.config.prompt(name, leg.language if leg else None, **values)

    def _voice(self, leg: Leg | None) -> dict[str, str]:
        language = (leg.language if leg else None) or self.config.language
        voice = self.config.voice_for(language)
        out = {}
        if voice:
            out["voice"] = voice
        if language:
            out["language"] = language
        return out

    def _amount(self, row: SessionRow) -> str:
        return speakable(Decimal(row.amount), row.currency)

    def _brand(self, leg: Leg) -> Brand:
        return brand_named(leg.brand or "") or Brand("visa", (16,), 3)

    def _leg(self, session_id: str) -> Leg | None:
        text = self.state.get(LEG_KEY.format(session_id=session_id))
        return Leg.from_json(text) if text else None

    def _save(self, leg: Leg) -> None:
        self.state.put(
            LEG_KEY.format(session_id=leg.session_id), leg.to_json(), self.config.leg_ttl
        )

    def _seal(self, leg: Leg, **fields: str) -> None:
        """Add fields to the sealed card record (each encrypted, bound to session and field)."""
        key = CARD_KEY.format(session_id=leg.session_id)
        current = json.loads(self.state.get(key) or "{}")
        for name, value in fields.items():
            current[name] = self.box.seal(value, f"{leg.session_id}:{name}")
        self.state.put(key, json.dumps(current), self.config.card_data_ttl)

    def _open(self, leg: Leg) -> dict[str, str] | None:
        text = self.state.get(CARD_KEY.format(session_id=leg.session_id))
        if text is None:
            return None
        sealed = json.loads(text)
        try:
            return {
                name: self.box.open(value, f"{leg.session_id}:{name}")
                for name, value in sealed.items()
            }
        except InvalidTag:  # sealed by another process with another key: ask again
            log.error(
                "card fields of session %s cannot be opened here: several processes "
                "need the same PCI_DATA_KEY",
                leg.session_id,
            )
            self.state.delete(CARD_KEY.format(session_id=leg.session_id))
            return None


def _named(prompt: str, row: SessionRow) -> str:
    """The prompt of that name, or its `verify_` form for a session that only verifies and
    saves a card (amount zero: nothing is taken)."""
    return f"verify_{prompt}" if Decimal(row.amount) == 0 else prompt
