"""Sessions whose payment leg was lost (a crash, a Redis that lost its data, a caller gone
without a result): settled from what the gateway answered, at start and by a sweep while
serving. Nothing is charged here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pci_bridge.charging import Charging, charge_key
from pci_bridge.clids import ClidPool
from pci_bridge.config import BridgeConfig
from pci_bridge.keys import SESSION_LOCK
from pci_bridge.kinds import Outcome, SessionState
from pci_bridge.ledger import Ledger
from pci_bridge.lifecycle import IN_PROGRESS, Lifecycle
from pci_bridge.records import PaymentResult, SessionRow
from pci_bridge.state import LiveState

log = logging.getLogger("pci_bridge")

SWEEP_AGE = 120.0  # seconds: older in_progress sessions with no live leg are settled


@dataclass
class Recovery:
    config: BridgeConfig
    ledger: Ledger
    state: LiveState
    lifecycle: Lifecycle
    clids: ClidPool
    charging: Charging
    clock: Callable[[], datetime]

    def recover(self) -> None:
        """When a process starts: a leg whose live state is gone was abandoned (unless the
        gateway charged it); unused sessions past their time expired. A leg or stored-card
        charge another process of the fleet is still running is left alone."""
        for row in self.ledger.in_states(IN_PROGRESS):
            try:
                if not self.lifecycle.in_flight(row):
                    self.settle(row)
            except Exception:  # Redis or the gateway away: the background worker goes on
                log.exception(
                    "session %s could not be settled at start; the serving process "
                    "settles it when it can",
                    row.id,
                )
        for row in self.ledger.in_states((SessionState.CREATED,)):
            self.lifecycle.expire_if_due(row)
        self.clids.restore()

    def sweep(self, min_age: float = SWEEP_AGE) -> int:
        """While serving (every few seconds): settle, from the gateway, sessions still
        `in_progress` whose leg's live state is gone (Redis lost it, the worker died) and
        that are older than `min_age` seconds (a stored-card charge in flight has no leg
        state). Returns how many were settled; with the live state unreachable (Redis down)
        it does nothing and says so to the caller by raising."""
        settled = 0
        now = self.clock()
        self.clids.restore()  # a Redis that lost its data lost them too
        for row in self.ledger.in_states(IN_PROGRESS):
            age = (now - datetime.fromisoformat(row.created_at)).total_seconds()
            if age < min_age or self.lifecycle.in_flight(row):
                continue
            with self.state.lock(SESSION_LOCK.format(session_id=row.id)):
                fresh = self.ledger.session(row.id)
                if (
                    fresh is None
                    or fresh.state != SessionState.IN_PROGRESS
                    or self.lifecycle.in_flight(fresh)
                ):
                    continue
                self.settle(fresh)
            settled += 1
        return settled

    def settle(self, row: SessionRow) -> None:
        """A leg that ended without a result (caller gone, crash): what the gateway answered,
        if it was asked, is the truth; only when nothing was charged is it abandoned."""
        session_id = row.id
        gateway = self.charging.gateway
        recorded = {a.n for a in self.ledger.attempts(session_id)}
        last = None
        for n in range(1, (row.max_cards or self.config.max_cards) + 1):
            answer = gateway.lookup(charge_key(session_id, n))
            if answer is None:
                break
            if n not in recorded:
                self.charging.record(session_id, n, answer)
            last = (n, answer)
        if last is None:
            self.lifecycle.finish(
                session_id,
                SessionState.ABANDONED,
                PaymentResult(Outcome.ABANDONED),
                only_if=IN_PROGRESS,
            )
            return
        n, answer = last
        self.charging.conclude(session_id, n, answer)
        log.warning(
            "session %s settled from the gateway's answer (its leg was lost): %s",
            session_id,
            answer.status,
        )
