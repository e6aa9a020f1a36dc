"""A session's record and its end, for every part of the bridge: read it (an unused session
past its time expires as it is read), end it once (final state, result and outbox row in one
transaction; its card data wiped and its CLID freed), and tell whether a payment leg or a
stored-card charge is still going on for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pci_bridge.errors import NotFound
from pci_bridge.keys import CARD_KEY, CLID_KEY, LEG_KEY
from pci_bridge.kinds import LIVE_STATES, SessionState
from pci_bridge.ledger import Ledger
from pci_bridge.metrics import PAYMENTS
from pci_bridge.outbox import event_body
from pci_bridge.records import PaymentResult, SessionRow
from pci_bridge.state import LiveState

log = logging.getLogger("pci_bridge")

CHARGE_TTL = 300  # seconds a stored-card charge is taken to be with the gateway at most
IN_PROGRESS = (SessionState.IN_PROGRESS,)


class Lifecycle:
    def __init__(self, ledger: Ledger, state: LiveState, clock: Callable[[], datetime]):
        self.ledger = ledger
        self.state = state
        self.clock = clock
        self.on_ended: Callable[[str], None] = lambda session_id: None  # e.g. wake the outbox

    def row(self, session_id: str) -> SessionRow:
        row = self.ledger.session(session_id)
        if row is None:
            raise NotFound(f"no session '{session_id}'")
        return self.expire_if_due(row)

    def expire_if_due(self, row: SessionRow) -> SessionRow:
        if row.expired_by(self.clock()):
            self.finish(row.id, SessionState.EXPIRED, None, only_if=(SessionState.CREATED,))
            return self.ledger.session(row.id) or row
        return row

    def finish(
        self,
        session_id: str,
        state: SessionState,
        result: PaymentResult | None,
        *,
        only_if: tuple[str, ...] = LIVE_STATES,
    ) -> bool:
        """Move a session to a final state once; wipe its card data and free its CLID."""
        row = self.ledger.session(session_id)
        if row is None:
            return False
        if result is not None:
            result = row.with_result(result)
        now = self.clock().isoformat()
        done = self.ledger.end_session(
            session_id,
            only_if,
            state,
            result,
            now,
            lambda ended: event_body(ended.public()).decode(),
        )
        if done:
            PAYMENTS.labels(str(state), str(result.outcome) if result is not None else "none").inc()
            self.on_ended(session_id)
            self.state.delete(CARD_KEY.format(session_id=session_id))
            if row.clid:
                self.state.release(CLID_KEY.format(clid=row.clid), session_id)
            log.info(
                "session %s %s (%s)",
                session_id,
                state,
                result.outcome if result is not None else "no result",
            )
        return done

    def in_flight(self, row: SessionRow) -> bool:
        """A payment leg or a stored-card charge is still going on for this session (in any
        process sharing the live state or the ledger)."""
        return self.charging(row) or (self.state.get(LEG_KEY.format(session_id=row.id)) is not None)

    def charging(self, row: SessionRow) -> bool:
        """A stored-card charge is with the gateway (marked in SQL, so a Redis that lost its
        data cannot hide it), for at most CHARGE_TTL seconds."""
        since = row.charging_since
        if not since or row.state != SessionState.IN_PROGRESS:
            return False
        return (self.clock() - datetime.fromisoformat(since)).total_seconds() < CHARGE_TTL
