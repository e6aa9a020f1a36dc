"""The CLID each live session is presented with: the caller's own when present and free, else
the first free number of the pool. Two live sessions never share one: each holds a
reservation in the live state, restored from the ledger after a restart."""

from __future__ import annotations

from dataclasses import dataclass

from pci_bridge.config import BridgeConfig
from pci_bridge.errors import Conflict
from pci_bridge.keys import CLID_KEY
from pci_bridge.kinds import LIVE_STATES
from pci_bridge.ledger import Ledger
from pci_bridge.lifecycle import Lifecycle
from pci_bridge.records import SessionRow
from pci_bridge.state import LiveState

LONGEST_LEG = 4 * 3600  # a transfer_to_pci time_limit is at most 4 hours


@dataclass
class ClidPool:
    config: BridgeConfig
    ledger: Ledger
    state: LiveState
    lifecycle: Lifecycle

    @property
    def ttl(self) -> int:
        """A reservation outlives its session at most this long (it is released as soon as
        the session ends)."""
        return self.config.session_ttl + LONGEST_LEG

    def allocate(self, session_id: str, caller: str) -> str:
        """The caller's own CLID when present and free, else the first free pool number."""
        candidates = ([caller] if caller else []) + [
            n for n in self.config.clid_pool if n != caller
        ]
        for clid in candidates:
            key = CLID_KEY.format(clid=clid)
            if self.state.reserve(key, session_id, self.ttl):
                return clid
            holder = self.state.get(key)  # its session may have expired unused: then it is free
            held = self.ledger.session(holder) if holder else None
            if (
                held is not None
                and self.lifecycle.expire_if_due(held).ended
                and self.state.reserve(key, session_id, self.ttl)
            ):
                return clid
        raise Conflict(
            "no free CLID in the pool: every presented CLID belongs to a live "
            "session; try again shortly or configure a larger clid_pool"
        )

    def release(self, clid: str, session_id: str) -> None:
        self.state.release(CLID_KEY.format(clid=clid), session_id)

    def restore(self) -> None:
        """A live session keeps its CLID across a restart of this process or of Redis."""
        for row in self.ledger.in_states(LIVE_STATES):
            if row.clid:
                self.state.reserve(CLID_KEY.format(clid=row.clid), row.id, self.ttl)

    def live_session(self, clid: str) -> SessionRow | None:
        """The live session a payment leg presented with `clid` belongs to."""
        session_id = self.state.get(CLID_KEY.format(clid=clid))
        if session_id is None:
            return None
        row = self.ledger.session(session_id)
        return self.lifecycle.expire_if_due(row) if row else None
