"""The bridge's Prometheus metrics (`pci_` names; exposed by the app that mounts the bridge,
or by `pci-bridge serve`). Labels are outcomes and states: never a session, an amount, a
reference or a card."""

from __future__ import annotations

from prometheus_client import Counter

PAYMENTS = Counter(
    "pci_payments", "Payment sessions ended, by final state and outcome", ["state", "outcome"]
)
