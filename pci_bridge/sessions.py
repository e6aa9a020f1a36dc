"""Payment sessions, the face the app and the payment leg use: create (with Idempotency-Key),
read, find by CLID, cancel; the parts behind it each do one job (validation, lifecycle, clids,
charging, stored_cards, recovery)."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from foundation.clock import utc_now
from pci_bridge.charging import Charging
from pci_bridge.clids import ClidPool
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import Conflict, NotFound
from pci_bridge.gateway import Gateway
from pci_bridge.keys import SESSION_LOCK
from pci_bridge.kinds import LIVE_STATES, Outcome, SessionState
from pci_bridge.ledger import Ledger
from pci_bridge.lifecycle import Lifecycle
from pci_bridge.records import PaymentResult, SessionRow
from pci_bridge.recovery import SWEEP_AGE, Recovery
from pci_bridge.state import LiveState
from pci_bridge.stored_cards import StoredCardCharges
from pci_bridge.validation import session_request

log = logging.getLogger("pci_bridge")


class Sessions:
    def __init__(
        self,
        config: BridgeConfig,
        ledger: Ledger,
        state: LiveState,
        gateway: Gateway,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.config = config
        self.ledger = ledger
        self.state = state
        self.clock = clock
        self.lifecycle = Lifecycle(ledger, state, clock)
        self.charging = Charging(self.lifecycle, ledger, gateway, clock)
        self.clids = ClidPool(config, ledger, state, self.lifecycle)
        self.stored = StoredCardCharges(ledger, state, self.lifecycle, self.charging, clock)
        self.recovery = Recovery(
            config, ledger, state, self.lifecycle, self.clids, self.charging, clock
        )

    @property
    def gateway(self) -> Gateway:
        return self.charging.gateway

    @gateway.setter
    def gateway(self, gateway: Gateway) -> None:
        self.charging.gateway = gateway

    @property
    def on_ended(self) -> Callable[[str], None]:
        """Told the id of every session that ends (e.g. to wake the outbox)."""
        return self.lifecycle.on_ended

    @on_ended.setter
    def on_ended(self, tell: Callable[[str], None]) -> None:
        self.lifecycle.on_ended = tell

    @property
    def on_late_end(self) -> Callable[[str, dict[str, Any]], None]:
        """Told the caller's CLID and the public view of a stored-card payment that ended
        after its create had answered."""
        return self.stored.on_late_end

    @on_late_end.setter
    def on_late_end(self, tell: Callable[[str, dict[str, Any]], None]) -> None:
        self.stored.on_late_end = tell

    # -- create ---------------------------------------------------------------------------

    def create(self, body: Any, idempotency_key: str | None = None) -> tuple[SessionRow, bool]:
        """A new session (or, for a replayed Idempotency-Key, the same one): (row, created)."""
        request = session_request(body, self.config)
        digest = hashlib.sha256(json.dumps(request.asked(), sort_keys=True).encode()).hexdigest()
        if idempotency_key:
            existing = self.ledger.by_idempotency_key(idempotency_key)
            if existing is not None:
                return self._replay(existing, digest), False
        now = self.clock()
        session_id = "ps_" + secrets.token_hex(12)
        row = SessionRow(
            id=session_id,
            state=SessionState.CREATED,
            amount=request.amount,
            currency=request.currency,
            reference=request.reference,
            description=request.description,
            caller_clid=request.caller_clid,
            save_card=request.save_card,
            card_token=request.card_token,
            max_cards=request.max_cards,
            language=request.language,
            idempotency_key=idempotency_key or None,
            request_hash=digest,
            created_at=now.isoformat(),
            expires_at=(now + timedelta(seconds=self.config.session_ttl)).isoformat(),
        )
        if request.card_token:
            if not self.ledger.insert_session(row):
                return self._replay(
                    self.ledger.by_idempotency_key(idempotency_key or ""), digest
                ), False
            self.stored.start(session_id, request.wait)
            return self.row(session_id), True
        clid = self.clids.allocate(session_id, request.caller_clid)
        row = replace(row, clid=clid, transfer_number=self._transfer_number(session_id))
        if not self.ledger.insert_session(row):
            self.clids.release(clid, session_id)
            return self._replay(
                self.ledger.by_idempotency_key(idempotency_key or ""), digest
            ), False
        self.ledger.present(clid, session_id)
        log.info(
            "session %s created: %s %s, presented as %s", session_id, row.amount, row.currency, clid
        )
        return self.row(session_id), True

    def _replay(self, existing: SessionRow | None, digest: str) -> SessionRow:
        if existing is None:  # pragma: no cover - the key existed a moment ago
            raise Conflict("the session for this Idempotency-Key is gone", status=409)
        if existing.request_hash != digest:
            raise Conflict("Idempotency-Key was already used with different parameters", status=422)
        return self.row(existing.id)

    def _transfer_number(self, session_id: str) -> str:
        numbers = self.config.transfer_numbers
        return numbers[int(session_id[-4:], 16) % len(numbers)]

    # -- read -----------------------------------------------------------------------------

    def row(self, session_id: str) -> SessionRow:
        return self.lifecycle.row(session_id)

    def view(self, session_id: str) -> dict[str, Any]:
        """The session's public view (what the API answers for it)."""
        return self.row(session_id).public()

    def by_clid(self, clid: str) -> SessionRow:
        row = self.ledger.latest_by_clid(clid)
        if row is None:
            raise NotFound(f"no session was presented with CLID {clid}")
        return self.lifecycle.expire_if_due(row)

    def paid_by(self, caller_clid: str, since: datetime) -> list[dict[str, Any]]:
        """Payments taken for a caller since a moment (their public views): what a call that
        lost its own record of them had paid."""
        return [
            row.public() for row in self.ledger.completed_for_caller(caller_clid, since.isoformat())
        ]

    # -- end ------------------------------------------------------------------------------

    def cancel(self, session_id: str) -> SessionRow:
        # Under the session's lock: a charge in progress on the payment leg finishes first, so
        # a payment that was taken is never reported cancelled. A stored-card charge with the
        # gateway cannot be cancelled at all: its result is read later.
        if self.lifecycle.charging(self.row(session_id)):
            raise Conflict(f"session {session_id} is being charged; read its result later")
        with self.state.lock(SESSION_LOCK.format(session_id=session_id)):
            row = self.row(session_id)
            if row.ended:
                raise Conflict(f"session {session_id} has already ended ({row.state})")
            if self.lifecycle.charging(row):
                raise Conflict(f"session {session_id} is being charged; read its result later")
            self.lifecycle.finish(
                session_id,
                SessionState.CANCELLED,
                PaymentResult(Outcome.CANCELLED),
                only_if=LIVE_STATES,
            )
        return self.row(session_id)

    def recover(self) -> None:
        """When a process starts: settle lost legs, expire unused sessions, restore CLIDs."""
        self.recovery.recover()

    def sweep(self, min_age: float = SWEEP_AGE) -> int:
        """While serving: settle sessions whose leg was lost (pci_bridge/recovery.py)."""
        return self.recovery.sweep(min_age)

    def _charge_stored(self, session_id: str) -> None:
        """Charge a stored-card session now, on this thread (tests: a late charge thread)."""
        self.stored.charge(session_id)
