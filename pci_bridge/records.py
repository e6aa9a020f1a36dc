"""What the ledger holds and the session API answers, as frozen dataclasses: a session row, an
attempt row, and a session's result (with the card and gateway parts of it).

Rows keep the ledger's column names and values (times as the ISO text stored); `public()` and
`to_json()` give exactly the JSON the API has always answered and stored. Indexing a row by
column name (`row["state"]`) reads the attribute, for callers that treat rows as mappings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from pci_bridge.kinds import FINAL_STATES, ChargeStatus, Outcome, SessionState


class _Columns:
    """Read access by column name."""

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


@dataclass(frozen=True)
class CardSummary:
    """A card as anything outside the gateway call may show it: brand and last four digits."""

    brand: str
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GatewayAnswer:
    name: str
    reference: str | None = None
    decline_code: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PaymentResult:
    """A session's `result` once it has ended."""

    outcome: Outcome
    attempts: int = 0
    confirmation_code: str | None = None
    card: CardSummary | None = None
    card_token: str | None = None
    gateway: GatewayAnswer | None = None
    amount: str | None = None  # the session's, filled in when it ends
    currency: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "confirmation_code": self.confirmation_code,
            "amount": self.amount,
            "currency": self.currency,
            "card": self.card.to_json() if self.card else None,
            "card_token": self.card_token,
            "gateway": self.gateway.to_json() if self.gateway else None,
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaymentResult:
        card, gateway = data.get("card"), data.get("gateway")
        return cls(
            outcome=Outcome(data["outcome"]),
            attempts=data.get("attempts", 0),
            confirmation_code=data.get("confirmation_code"),
            card=CardSummary(**card) if card else None,
            card_token=data.get("card_token"),
            gateway=GatewayAnswer(**gateway) if gateway else None,
            amount=data.get("amount"),
            currency=data.get("currency"),
        )


@dataclass(frozen=True)
class SessionRow(_Columns):
    """A row of `pci_sessions`."""

    id: str
    state: SessionState
    amount: str  # decimal text with two places
    currency: str
    reference: str
    created_at: str
    expires_at: str
    clid: str | None = None  # presented on the transfer (None for stored-card payments)
    caller_clid: str | None = None
    transfer_number: str | None = None
    description: str | None = None
    save_card: bool = False
    card_token: str | None = None
    max_cards: int | None = None
    language: str | None = None  # what the payment leg speaks (None: the bridge's own)
    idempotency_key: str | None = None
    request_hash: str | None = None
    ended_at: str | None = None
    result: PaymentResult | None = None
    charging_since: str | None = None  # a stored-card charge is with the gateway

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> SessionRow:
        values = dict(columns)
        values["state"] = SessionState(values["state"])
        values["result"] = (
            PaymentResult.from_json(json.loads(values["result"])) if values["result"] else None
        )
        return cls(**values)

    def columns(self) -> dict[str, Any]:
        """The values to insert (the result as the JSON text the ledger stores)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["result"] = result_text(self.result)
        return values

    @property
    def ended(self) -> bool:
        return self.state in FINAL_STATES

    def expired_by(self, now: datetime) -> bool:
        """Unused and past its time."""
        return self.state == SessionState.CREATED and now >= datetime.fromisoformat(self.expires_at)

    def with_result(self, result: PaymentResult) -> PaymentResult:
        """`result` with this session's amount and currency."""
        return replace(result, amount=self.amount, currency=self.currency)

    def public(self) -> dict[str, Any]:
        """What the session API answers for this session."""
        return {
            "session_id": self.id,
            "state": self.state,
            "clid": self.clid,
            "transfer_number": self.transfer_number,
            "amount": self.amount,
            "currency": self.currency,
            "reference": self.reference,
            "description": self.description,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "result": self.result.to_json() if self.result else None,
        }


@dataclass(frozen=True)
class AttemptRow(_Columns):
    """A row of `pci_attempts`: one charge of a session, as the gateway answered it."""

    session_id: str
    n: int
    outcome: ChargeStatus
    at: str
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    gateway_reference: str | None = None
    decline_code: str | None = None
    message: str | None = None
    id: int | None = None  # given by the database

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> AttemptRow:
        values = dict(columns)
        values["outcome"] = ChargeStatus(values["outcome"])
        return cls(**values)

    def columns(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}


def result_text(result: PaymentResult | None) -> str | None:
    """A result as the ledger stores it."""
    return json.dumps(result.to_json(), sort_keys=True) if result is not None else None
