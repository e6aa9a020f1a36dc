"""Named values of the bridge: session states, outcomes, gateway answers and leg stages.

They are `StrEnum`s, so what is stored (SQL, Redis) and answered (JSON) is the same plain
string as ever: `SessionState.IN_PROGRESS == "in_progress"`.
"""

from __future__ import annotations

from enum import StrEnum


class SessionState(StrEnum):
    CREATED = "created"
    IN_PROGRESS = "in_progress"  # the payment leg is connected, or a stored card is charging
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # the caller hung up
    EXPIRED = "expired"  # never used before expires_at


LIVE_STATES = (SessionState.CREATED, SessionState.IN_PROGRESS)
FINAL_STATES = (
    SessionState.COMPLETED,
    SessionState.FAILED,
    SessionState.CANCELLED,
    SessionState.ABANDONED,
    SessionState.EXPIRED,
)


class Outcome(StrEnum):
    """A session's result `outcome`."""

    SUCCESS = "success"
    DECLINED = "declined"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    GATEWAY_ERROR = "gateway_error"


class ChargeStatus(StrEnum):
    """What the gateway answered a charge (also an attempt row's `outcome`)."""

    SUCCESS = "success"
    DECLINED = "declined"
    ERROR = "error"


class Stage(StrEnum):
    """Where a payment leg is: what the caller is asked for next."""

    NUMBER = "number"
    EXPIRY = "expiry"
    CODE = "code"
    POSTCODE = "postcode"
    CONFIRM = "confirm"
    ANOTHER = "another"  # after a decline: try another card?
