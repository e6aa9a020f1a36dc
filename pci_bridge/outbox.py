"""Payment outcomes reach the business: the outbox of ended sessions and its delivery to the
payment-result webhook (`pci.result_webhook`).

Every session that ends is written to the outbox in the same transaction as its final state
(pci_bridge/ledger.py), so no ended payment can be missing from it. Delivery POSTs

    {"event": "payment.ended", "session_id", "reference", "result"}

with `X-PCI-Signature: sha256=HEX(HMAC-SHA256(PCI_WEBHOOK_SECRET, body))`; any 2xx
acknowledges. Otherwise the row is tried again after an exponential back-off (10 s doubling
to an hour, for as long as it takes: at least 24 h), so a receiver that is down for a day
still gets every payment once it is back. Several processes may deliver at once: each claims
a row for a while before sending it, and the receiver de-duplicates by `session_id`.
`pci-bridge reconcile` lists what is not acknowledged and sends it again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from foundation.signing import SIGNATURE_HEADER, sign
from pci_bridge.ledger import Ledger

log = logging.getLogger("pci_bridge.outbox")

EVENT = "payment.ended"
FIRST_RETRY = 10.0  # seconds; doubles each time
LAST_RETRY = 3600.0
CLAIM_SECONDS = 60.0  # a row being sent is not taken by another process for this long
SEND_TIMEOUT = 5.0


def event_body(session: dict[str, Any]) -> bytes:
    """The webhook's body for an ended session (its public view)."""
    return json.dumps(
        {
            "event": EVENT,
            "session_id": session["session_id"],
            "reference": session["reference"],
            "result": session["result"],
        },
        sort_keys=True,
    ).encode()


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed delivery."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LAST_RETRY)


@dataclass
class Delivery:
    session_id: str
    status: int | None  # HTTP status, None when no answer
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Outbox:
    """Sends what the ledger's outbox holds to the configured webhook."""

    def __init__(
        self,
        ledger: Ledger,
        url: str | None,
        secret: str | None,
        clock: Callable[[], datetime],
        http: requests.Session | None = None,
    ):
        self.ledger = ledger
        self.url = url
        self.secret = secret
        self.clock = clock
        self.http = http if http is not None else requests.Session()

    @property
    def configured(self) -> bool:
        return bool(self.url and self.secret)

    def deliver_due(self, *, everything: bool = False, limit: int = 100) -> list[Delivery]:
        """Send the rows whose time has come (all unacknowledged ones with `everything`)."""
        if not self.configured:
            return []
        done = []
        for row in self.ledger.outbox_due(self.clock(), everything=everything, limit=limit):
            claim_until = self.clock() + timedelta(seconds=CLAIM_SECONDS)
            if not self.ledger.claim_outbox(row["session_id"], row["next_attempt_at"], claim_until):
                continue  # another process is sending it
            done.append(self._send(row))
        return done

    def _send(self, row: dict[str, Any]) -> Delivery:
        assert self.url and self.secret
        body: bytes = row["body"].encode()
        session_id = row["session_id"]
        try:
            answer = self.http.post(
                self.url,
                data=body,
                timeout=SEND_TIMEOUT,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(self.secret, body),
                },
            )
            delivery = Delivery(
                session_id,
                answer.status_code,
                None if answer.ok else f"answered {answer.status_code}",
            )
        except requests.RequestException as exc:
            delivery = Delivery(session_id, None, type(exc).__name__)
        now = self.clock()
        if delivery.acknowledged:
            self.ledger.outbox_delivered(session_id, now)
            log.info("payment result of %s delivered", session_id)
        else:
            attempts = row["attempts"] + 1
            retry = now + timedelta(seconds=backoff(attempts))
            self.ledger.outbox_failed(session_id, attempts, retry, delivery.error or "")
            log.warning(
                "payment result of %s not delivered (%s, attempt %d); again at %s",
                session_id,
                delivery.error,
                attempts,
                retry.isoformat(),
            )
        return delivery


class OutboxWorker(threading.Thread):
    """Delivers due outbox rows every `interval` seconds, and at once when `poke`d (a session
    just ended); runs the bridge's other `chores` (settling lost legs) each round too. One per
    serving process."""

    def __init__(
        self,
        outbox: Outbox,
        interval: float = 5.0,
        chores: tuple[tuple[str, Callable[[], Any]], ...] = (),
    ):
        super().__init__(name="pci-outbox", daemon=True)
        self.outbox = outbox
        self.interval = interval
        self.chores = chores
        self.failing: dict[str, int] = {}  # chore → rounds failed in a row (logged once)
        self.wake = threading.Event()
        self.stopped = threading.Event()

    def poke(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.wake.wait(self.interval)
            self.wake.clear()
            if self.stopped.is_set():
                return
            for name, chore in (
                ("delivering payment results", self.outbox.deliver_due),
                *self.chores,
            ):
                self._run(name, chore)

    def _run(self, name: str, chore: Callable[[], Any]) -> None:
        """A chore that fails (a database or Redis away) is logged once when it starts
        failing and once when it works again, not every round."""
        try:
            chore()
        except Exception as exc:
            count = self.failing.get(name, 0) + 1
            self.failing[name] = count
            if count == 1:
                log.error(
                    "%s failed (%s); trying again every %g s",
                    name,
                    type(exc).__name__,
                    self.interval,
                )
            return
        failed = self.failing.pop(name, 0)
        if failed:
            log.info("%s works again after %d failed rounds", name, failed)
