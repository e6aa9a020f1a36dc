"""Payment sessions: create (with Idempotency-Key), read, find by CLID, cancel, expire, and the
CLID each live session is presented with (never two live sessions on one CLID)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from foundation.phone import presented_clid
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import Conflict, NotFound, ValidationError
from pci_bridge.gateway import Gateway
from pci_bridge.keys import card_key, clid_key, leg_key, session_lock
from pci_bridge.kinds import FINAL_STATES, LIVE_STATES, ChargeStatus, Outcome, SessionState
from pci_bridge.ledger import Ledger
from pci_bridge.outbox import event_body
from pci_bridge.state import LiveState

log = logging.getLogger("pci_bridge")

E164 = re.compile(r"\+[1-9]\d{6,14}")
AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
FIELDS = {"amount", "currency", "reference", "description", "caller_clid", "card_token",
          "save_card", "max_cards", "wait"}
SWEEP_AGE = 120.0  # seconds: older in_progress sessions with no live leg are settled
CHARGE_TTL = 300  # seconds a stored-card charge is taken to be with the gateway at most
WAIT_DEFAULT = 5  # seconds a stored-card create waits for the gateway before answering
WAIT_MAX = 8
LONGEST_LEG = 4 * 3600  # a transfer_to_pci time_limit is at most 4 hours
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I


def utc_now() -> datetime:
    return datetime.now(UTC)


def confirmation_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


class Sessions:
    def __init__(self, config: BridgeConfig, ledger: Ledger, state: LiveState,
                 gateway: Gateway, clock: Callable[[], datetime] = utc_now):
        self.config = config
        self.ledger = ledger
        self.state = state
        self.gateway = gateway
        self.clock = clock
        self.on_ended: Callable[[str], None] = lambda session_id: None  # e.g. wake the outbox
        # Told when a stored-card charge that outlived its `wait` ends (the caller may not
        # have heard how it went): the caller's CLID (may be empty) and the public view.
        self.on_late_end: Callable[[str, dict[str, Any]], None] = lambda clid, view: None

    # -- create ---------------------------------------------------------------------------

    def create(self, body: Any, idempotency_key: str | None = None
               ) -> tuple[dict[str, Any], bool]:
        """A new session (or, for a replayed Idempotency-Key, the same one): (view, created)."""
        request = self._validate(body)
        wait = request.pop("wait")  # how long to wait is not part of what is asked for
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        if idempotency_key:
            existing = self.ledger.by_idempotency_key(idempotency_key)
            if existing is not None:
                return self._replay(existing, digest), False
        now = self.clock()
        session_id = "ps_" + secrets.token_hex(12)
        row = {
            "id": session_id, "state": SessionState.CREATED, "amount": request["amount"],
            "currency": request["currency"], "reference": request["reference"],
            "description": request.get("description"), "caller_clid": request["caller_clid"],
            "save_card": request["save_card"], "card_token": request.get("card_token"),
            "max_cards": request.get("max_cards"),
            "idempotency_key": idempotency_key or None, "request_hash": digest,
            "created_at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=self.config.session_ttl)).isoformat(),
        }
        if request.get("card_token"):
            if not self.ledger.insert_session(row):
                return self._replay(self.ledger.by_idempotency_key(idempotency_key or ""),
                                    digest), False
            self._charge_in_background(session_id, wait)
            return self.view(session_id), True
        clid = self._allocate_clid(session_id, request["caller_clid"])
        row["clid"] = clid
        row["transfer_number"] = self._transfer_number(session_id)
        if not self.ledger.insert_session(row):
            self.state.release(clid_key(clid), session_id)
            return self._replay(self.ledger.by_idempotency_key(idempotency_key or ""),
                                digest), False
        self.ledger.present(clid, session_id)
        log.info("session %s created: %s %s, presented as %s", session_id, row["amount"],
                 row["currency"], clid)
        return self.view(session_id), True

    def _replay(self, existing: dict[str, Any] | None, digest: str) -> dict[str, Any]:
        if existing is None:  # pragma: no cover - the key existed a moment ago
            raise Conflict("the session for this Idempotency-Key is gone", status=409)
        if existing["request_hash"] != digest:
            raise Conflict("Idempotency-Key was already used with different parameters",
                           status=422)
        return self.view(existing["id"])

    def _validate(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValidationError("body", "expected a JSON object")
        for key in body:
            if key not in FIELDS:
                raise ValidationError(key, f"unknown field (allowed: {', '.join(sorted(FIELDS))})")
        amount = body.get("amount")
        if not isinstance(amount, str):
            raise ValidationError("amount", 'give the amount as a decimal string, e.g. "42.50"')
        if not AMOUNT.fullmatch(amount):  # Decimal() alone would take "1_000" or "4.2E+1"
            raise ValidationError("amount", f"'{amount}' is not a decimal amount like 42.50")
        value = Decimal(amount)
        if not value.is_finite() or value <= 0:
            raise ValidationError("amount", "must be more than zero")
        if value.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValidationError("amount", "at most two decimal places")
        if value > Decimal("1000000"):
            raise ValidationError("amount", "must be at most 1000000")
        currency = body.get("currency")
        if not isinstance(currency, str) or currency.upper() not in self.config.currencies:
            raise ValidationError("currency", f"unsupported currency {currency!r} (one of "
                                  f"{', '.join(self.config.currencies)})")
        reference = body.get("reference")
        if not isinstance(reference, str) or not reference.strip() or len(reference) > 64:
            raise ValidationError("reference", "required text of at most 64 characters")
        description = body.get("description")
        if description is not None and (not isinstance(description, str)
                                        or len(description) > 200):
            raise ValidationError("description", "text of at most 200 characters")
        caller = body.get("caller_clid")
        if caller is None:
            caller = ""
        if not isinstance(caller, str):
            raise ValidationError("caller_clid", "expected an E.164 number or empty")
        caller = presented_clid(caller)
        if caller and not E164.fullmatch(caller):
            raise ValidationError("caller_clid", f"'{caller}' is not an E.164 number")
        token = body.get("card_token")
        if token is not None and (not isinstance(token, str) or not token.strip()
                                  or len(token) > 64):
            raise ValidationError("card_token", "expected a card token (at most 64 characters)")
        save = body.get("save_card", False)
        if not isinstance(save, bool):
            raise ValidationError("save_card", "expected true or false")
        max_cards = body.get("max_cards")
        if max_cards is not None and (isinstance(max_cards, bool) or not isinstance(
                max_cards, int) or not 1 <= max_cards <= self.config.max_cards):
            raise ValidationError("max_cards", f"a whole number from 1 to "
                                  f"{self.config.max_cards}")
        wait = body.get("wait", WAIT_DEFAULT)
        if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= WAIT_MAX:
            raise ValidationError("wait", f"a whole number of seconds from 0 to {WAIT_MAX}")
        out = {"amount": str(value.quantize(Decimal("0.01"))), "currency": currency.upper(),
               "reference": reference.strip(), "caller_clid": caller, "save_card": save,
               "wait": wait}
        if max_cards is not None:
            out["max_cards"] = max_cards
        if description is not None:
            out["description"] = description
        if token:
            out["card_token"] = token.strip()
        return out

    def _allocate_clid(self, session_id: str, caller: str) -> str:
        """The caller's own CLID when present and free, else the first free pool number."""
        ttl = self.config.session_ttl + LONGEST_LEG  # released as soon as the session ends
        candidates = ([caller] if caller else []) + [
            n for n in self.config.clid_pool if n != caller]
        for clid in candidates:
            key = clid_key(clid)
            if self.state.reserve(key, session_id, ttl):
                return clid
            holder = self.state.get(key)  # its session may have expired unused: then it is free
            held = self.ledger.session(holder) if holder else None
            if held is not None and self._expire_if_due(held)["state"] in FINAL_STATES and \
                    self.state.reserve(key, session_id, ttl):
                return clid
        raise Conflict("no free CLID in the pool: every presented CLID belongs to a live "
                       "session; try again shortly or configure a larger clid_pool")

    def _transfer_number(self, session_id: str) -> str:
        numbers = self.config.transfer_numbers
        return numbers[int(session_id[-4:], 16) % len(numbers)]

    # -- read -----------------------------------------------------------------------------

    def row(self, session_id: str) -> dict[str, Any]:
        row = self.ledger.session(session_id)
        if row is None:
            raise NotFound(f"no session '{session_id}'")
        return self._expire_if_due(row)

    def view(self, session_id: str) -> dict[str, Any]:
        return public_view(self.row(session_id))

    def by_clid(self, clid: str) -> dict[str, Any]:
        row = self.ledger.latest_by_clid(clid)
        if row is None:
            raise NotFound(f"no session was presented with CLID {clid}")
        return public_view(self._expire_if_due(row))

    def paid_by(self, caller_clid: str, since: datetime) -> list[dict[str, Any]]:
        """Payments taken for a caller since a moment (their public views): what a call that
        lost its own record of them had paid."""
        return [public_view(row) for row in
                self.ledger.completed_for_caller(caller_clid, since.isoformat())]

    def live_by_clid(self, clid: str) -> dict[str, Any] | None:
        """The live session a payment leg presented with `clid` belongs to."""
        session_id = self.state.get(clid_key(clid))
        if session_id is None:
            return None
        row = self.ledger.session(session_id)
        return self._expire_if_due(row) if row else None

    def _expire_if_due(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["state"] == SessionState.CREATED and self.clock() >= datetime.fromisoformat(
                row["expires_at"]):
            self.finish(row["id"], SessionState.EXPIRED, None, only_if=(SessionState.CREATED,))
            return self.ledger.session(row["id"]) or row
        return row

    # -- end ------------------------------------------------------------------------------

    def cancel(self, session_id: str) -> dict[str, Any]:
        # Under the session's lock: a charge in progress on the payment leg finishes first, so
        # a payment that was taken is never reported cancelled. A stored-card charge with the
        # gateway cannot be cancelled at all: its result is read later.
        if self._charging(self.row(session_id)):
            raise Conflict(f"session {session_id} is being charged; read its result later")
        with self.state.lock(session_lock(session_id)):
            row = self.row(session_id)
            if row["state"] in FINAL_STATES:
                raise Conflict(f"session {session_id} has already ended ({row['state']})")
            if self._charging(row):
                raise Conflict(f"session {session_id} is being charged; read its result later")
            self.finish(session_id, SessionState.CANCELLED, {"outcome": Outcome.CANCELLED},
                        only_if=LIVE_STATES)
        return self.view(session_id)

    def finish(self, session_id: str, state: str, result: dict[str, Any] | None, *,
               only_if: tuple[str, ...] = LIVE_STATES) -> bool:
        """Move a session to a final state once; wipe its card data and free its CLID."""
        row = self.ledger.session(session_id)
        if row is None:
            return False
        if result is not None:
            result = {**base_result(row), **result}
        now = self.clock().isoformat()
        done = self.ledger.end_session(
            session_id, only_if, lambda ended: event_body(public_view(ended)).decode(), now,
            state=state, result=result, ended_at=now)
        if done:
            self.on_ended(session_id)
            self.state.delete(card_key(session_id))
            if row.get("clid"):
                self.state.release(clid_key(row["clid"]), session_id)
            log.info("session %s %s (%s)", session_id, state,
                     (result or {}).get("outcome", "no result"))
        return done

    def _charge_in_background(self, session_id: str, wait: float) -> None:
        """Charge a stored card on a thread of its own and wait up to `wait` seconds for it:
        the answer is then final, or `in_progress` with the charge still going on (its
        result is read later, and delivered through the outbox as any other)."""
        done = threading.Event()
        late = threading.Event()

        def charge() -> None:
            try:
                self._charge_stored(session_id)
            except Exception:  # logged; the session is settled from the gateway on recovery
                log.exception("charging the stored card of session %s failed", session_id)
            finally:
                done.set()
            if late.is_set():
                try:
                    row = self.ledger.session(session_id) or {}
                    self.on_late_end(row.get("caller_clid") or "", self.view(session_id))
                except Exception:
                    log.exception("telling about the late end of session %s failed",
                                  session_id)

        self.ledger.update(session_id, only_if=(SessionState.CREATED,),
                           state=SessionState.IN_PROGRESS, charging_since=self.clock().isoformat())
        threading.Thread(target=charge, name=f"charge-{session_id}", daemon=True).start()
        if not done.wait(wait):
            late.set()
            log.info("session %s: the gateway has not answered within %gs; the charge goes on",
                     session_id, wait)

    def _charge_stored(self, session_id: str) -> None:
        with self.state.lock(session_lock(session_id)):
            self._charge_stored_locked(session_id)

    def _charge_stored_locked(self, session_id: str) -> None:
        row = self.ledger.session(session_id)
        assert row is not None
        if not self.ledger.update(session_id, only_if=LIVE_STATES,
                                  state=SessionState.IN_PROGRESS):
            log.info("session %s ended (%s) before its charge started; nothing charged",
                     session_id, row["state"])
            return
        try:
            result = self.gateway.charge(key=f"{session_id}:1", amount=Decimal(row["amount"]),
                                         currency=row["currency"], token=row["card_token"])
        except Exception:
            log.exception("the gateway did not answer for session %s", session_id)
            answer = self.gateway.lookup(f"{session_id}:1")  # it may have charged all the same
            if answer is None:
                self.finish(session_id, SessionState.FAILED,
                            unanswered_result(1, self.gateway.name),
                            only_if=(SessionState.IN_PROGRESS,))
                return
            result = answer
        record_attempt(self.ledger, session_id, 1, result, self.clock())
        if result.status == ChargeStatus.SUCCESS:
            ended = self.finish(session_id, SessionState.COMPLETED,
                                success_result(result, 1, self.gateway.name),
                                only_if=(SessionState.IN_PROGRESS,))
        else:
            ended = self.finish(session_id, SessionState.FAILED,
                                failure_result(result, 1, self.gateway.name),
                                only_if=(SessionState.IN_PROGRESS,))
        if not ended and result.status == ChargeStatus.SUCCESS:
            now = self.ledger.session(session_id) or {}
            log.error("ALERT: session %s was charged (gateway reference %s) after it had ended "
                      "as %s; the business was told %s: refund or post it by hand",
                      session_id, result.reference, now.get("state"), now.get("state"))

    def recover(self) -> None:
        """When a process starts: a leg whose live state is gone was abandoned (unless the
        gateway charged it); unused sessions past their time expired. A leg or stored-card
        charge another process of the fleet is still running is left alone. Nothing is
        charged here."""
        for row in self.ledger.in_states((SessionState.IN_PROGRESS,)):
            try:
                if not self._in_flight(row):
                    self.settle(row)
            except Exception:  # Redis or the gateway away: the background worker goes on
                log.exception("session %s could not be settled at start; the serving process "
                              "settles it when it can", row["id"])
        for row in self.ledger.in_states((SessionState.CREATED,)):
            self._expire_if_due(row)
        self.restore_reservations()

    def restore_reservations(self) -> None:
        """A live session keeps its CLID across a restart of this process or of Redis."""
        ttl = self.config.session_ttl + LONGEST_LEG
        for row in self.ledger.in_states(LIVE_STATES):
            if row.get("clid"):
                self.state.reserve(clid_key(row["clid"]), row["id"], ttl)


    def sweep(self, min_age: float = SWEEP_AGE) -> int:
        """While serving (every few seconds): settle, from the gateway, sessions still
        `in_progress` whose leg's live state is gone (Redis lost it, the worker died) and
        that are older than `min_age` seconds (a stored-card charge in flight has no leg
        state). Nothing is charged here. Returns how many were settled; with the live state
        unreachable (Redis down) it does nothing and says so to the caller by raising."""
        settled = 0
        now = self.clock()
        self.restore_reservations()  # a Redis that lost its data lost them too
        for row in self.ledger.in_states((SessionState.IN_PROGRESS,)):
            age = (now - datetime.fromisoformat(row["created_at"])).total_seconds()
            if age < min_age or self._in_flight(row):
                continue
            with self.state.lock(session_lock(row["id"])):
                fresh = self.ledger.session(row["id"])
                if fresh is None or fresh["state"] != SessionState.IN_PROGRESS or \
                        self._in_flight(fresh):
                    continue
                self.settle(fresh)
            settled += 1
        return settled

    def _in_flight(self, row: dict[str, Any]) -> bool:
        """A payment leg or a stored-card charge is still going on for this session (in any
        process sharing the live state or the ledger)."""
        return self._charging(row) or (
            self.state.get(leg_key(row["id"])) is not None)

    def _charging(self, row: dict[str, Any]) -> bool:
        """A stored-card charge is with the gateway (marked in SQL, so a Redis that lost its
        data cannot hide it), for at most CHARGE_TTL seconds."""
        since = row.get("charging_since")
        if not since or row["state"] != SessionState.IN_PROGRESS:
            return False
        return (self.clock() - datetime.fromisoformat(since)).total_seconds() < CHARGE_TTL

    def settle(self, row: dict[str, Any]) -> None:
        """A leg that ended without a result (caller gone, crash): what the gateway answered,
        if it was asked, is the truth; only when nothing was charged is it abandoned."""
        session_id = row["id"]
        recorded = {a["n"] for a in self.ledger.attempts(session_id)}
        last = None
        for n in range(1, (row.get("max_cards") or self.config.max_cards) + 1):
            answer = self.gateway.lookup(f"{session_id}:{n}")
            if answer is None:
                break
            if n not in recorded:
                record_attempt(self.ledger, session_id, n, answer, self.clock())
            last = (n, answer)
        if last is None:
            self.finish(session_id, SessionState.ABANDONED, {"outcome": Outcome.ABANDONED},
                        only_if=(SessionState.IN_PROGRESS,))
            return
        n, answer = last
        name = self.gateway.name
        if answer.status == ChargeStatus.SUCCESS:
            self.finish(session_id, SessionState.COMPLETED, success_result(answer, n, name),
                        only_if=(SessionState.IN_PROGRESS,))
        else:
            self.finish(session_id, SessionState.FAILED, failure_result(answer, n, name),
                        only_if=(SessionState.IN_PROGRESS,))
        log.warning("session %s settled from the gateway's answer (its leg was lost): %s",
                    session_id, answer.status)


def unanswered_result(attempts: int, gateway: str) -> dict[str, Any]:
    """The gateway did not answer: the charge may or may not have happened."""
    return {"outcome": Outcome.GATEWAY_ERROR, "attempts": attempts,
            "gateway": {"name": gateway, "reference": None, "decline_code": None,
                        "message": "the gateway did not answer"}}


def base_result(row: dict[str, Any]) -> dict[str, Any]:
    return {"amount": row["amount"], "currency": row["currency"], "confirmation_code": None,
            "card": None, "card_token": None, "gateway": None, "attempts": 0}


def card_view(result: Any) -> dict[str, Any] | None:
    if not result.brand:
        return None
    return {"brand": result.brand, "last4": result.last4, "exp_month": result.exp_month,
            "exp_year": result.exp_year}


def success_result(result: Any, attempts: int, gateway: str) -> dict[str, Any]:
    return {"outcome": Outcome.SUCCESS, "confirmation_code": confirmation_code(),
            "card": card_view(result), "card_token": result.token, "attempts": attempts,
            "gateway": {"name": gateway, "reference": result.reference, "decline_code": None,
                        "message": None}}


def failure_result(result: Any, attempts: int, gateway: str) -> dict[str, Any]:
    outcome = (Outcome.DECLINED if result.status == ChargeStatus.DECLINED
               else Outcome.GATEWAY_ERROR)
    return {"outcome": outcome, "card": card_view(result), "attempts": attempts,
            "gateway": {"name": gateway, "reference": result.reference,
                        "decline_code": result.decline_code, "message": result.message}}


def record_attempt(ledger: Ledger, session_id: str, n: int, result: Any, now: datetime
                   ) -> None:
    ledger.add_attempt({
        "session_id": session_id, "n": n, "brand": result.brand, "last4": result.last4,
        "exp_month": result.exp_month, "exp_year": result.exp_year,
        "outcome": result.status, "gateway_reference": result.reference,
        "decline_code": result.decline_code, "message": result.message, "at": now.isoformat(),
    })


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": row["id"], "state": row["state"], "clid": row.get("clid"),
        "transfer_number": row.get("transfer_number"), "amount": row["amount"],
        "currency": row["currency"], "reference": row["reference"],
        "description": row.get("description"), "created_at": row["created_at"],
        "expires_at": row["expires_at"], "result": row["result"],
    }
