"""Stored-card payments (`card_token`): the charge runs on a thread of its own, and the create
answers within its `wait` seconds, with the final result or `in_progress` while the charge
goes on (its result is read later, and delivered through the outbox as any other)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pci_bridge.charging import Charging
from pci_bridge.keys import SESSION_LOCK
from pci_bridge.kinds import LIVE_STATES, ChargeStatus, SessionState
from pci_bridge.ledger import Ledger
from pci_bridge.lifecycle import Lifecycle
from pci_bridge.state import LiveState

log = logging.getLogger("pci_bridge")

WAIT_DEFAULT = 5  # seconds a stored-card create waits for the gateway before answering
WAIT_MAX = 8


class StoredCardCharges:
    def __init__(
        self,
        ledger: Ledger,
        state: LiveState,
        lifecycle: Lifecycle,
        charging: Charging,
        clock: Callable[[], datetime],
    ):
        self.ledger = ledger
        self.state = state
        self.lifecycle = lifecycle
        self.charging = charging
        self.clock = clock
        # Told when a stored-card charge that outlived its `wait` ends (the caller may not
        # have heard how it went): the caller's CLID (may be empty) and the public view.
        self.on_late_end: Callable[[str, dict[str, Any]], None] = lambda clid, view: None

    def start(self, session_id: str, wait: float) -> None:
        """Charge a stored card on a thread of its own and wait up to `wait` seconds for it:
        the answer is then final, or `in_progress` with the charge still going on."""
        done = threading.Event()
        late = threading.Event()

        def charge() -> None:
            try:
                self.charge(session_id)
            except Exception:  # logged; the session is settled from the gateway on recovery
                log.exception("charging the stored card of session %s failed", session_id)
            finally:
                done.set()
            if late.is_set():
                try:
                    row = self.ledger.session(session_id)
                    self.on_late_end(
                        (row.caller_clid if row else None) or "",
                        self.lifecycle.row(session_id).public(),
                    )
                except Exception:
                    log.exception("telling about the late end of session %s failed", session_id)

        self.ledger.update(
            session_id,
            only_if=(SessionState.CREATED,),
            state=SessionState.IN_PROGRESS,
            charging_since=self.clock().isoformat(),
        )
        threading.Thread(target=charge, name=f"charge-{session_id}", daemon=True).start()
        if not done.wait(wait):
            late.set()
            log.info(
                "session %s: the gateway has not answered within %gs; the charge goes on",
                session_id,
                wait,
            )

    def charge(self, session_id: str) -> None:
        """Charge the session's stored card once (under the session's lock)."""
        with self.state.lock(SESSION_LOCK.format(session_id=session_id)):
            self._charge_locked(session_id)

    def _charge_locked(self, session_id: str) -> None:
        row = self.ledger.session(session_id)
        assert row is not None
        if not self.ledger.update(session_id, only_if=LIVE_STATES, state=SessionState.IN_PROGRESS):
            log.info(
                "session %s ended (%s) before its charge started; nothing charged",
                session_id,
                row.state,
            )
            return
        answer = self.charging.attempt(row, 1, token=row.card_token)
        if answer is None:
            return
        _, ended = self.charging.conclude(session_id, 1, answer)
        if not ended and answer.status == ChargeStatus.SUCCESS:
            now = self.ledger.session(session_id)
            state = now.state if now is not None else None
            log.error(
                "ALERT: session %s was charged (gateway reference %s) after it had ended "
                "as %s; the business was told %s: refund or post it by hand",
                session_id,
                answer.reference,
                state,
                state,
            )
