"""The PCI bridge's exception tree.

PciBridgeError
├── ValidationError   a request field is wrong (400, names the field)
├── NotFound          no such session (404)
├── Conflict          an Idempotency-Key replay with other parameters (422), or no free CLID
│                     in the pool (409)
├── GatewayError      the payment gateway failed to answer
└── KeyProblem        a configured API key is unusable, or none is configured where one
                      must be (raised at start, never for a request)
"""

from __future__ import annotations

from foundation import bearer


class PciBridgeError(Exception):
    status = 500


class ValidationError(PciBridgeError):
    status = 400

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(PciBridgeError):
    status = 404


class Conflict(PciBridgeError):
    def __init__(self, message: str, status: int = 409):
        self.status = status
        super().__init__(message)


class GatewayError(PciBridgeError):
    status = 502


class KeyProblem(PciBridgeError, bearer.KeyProblem):
    """Raised at start: an API key is too short, too long or not printable ASCII, or a serving
    process with shared state has none. The message names the setting, never a key."""


def bridge_keys(raw: object, where: str) -> tuple[str, ...]:
    """`foundation.bearer.parse_keys`, raising the bridge's KeyProblem."""
    try:
        return bearer.parse_keys(raw, where)  # type: ignore[arg-type]
    except bearer.KeyProblem as exc:
        raise KeyProblem(str(exc)) from None
