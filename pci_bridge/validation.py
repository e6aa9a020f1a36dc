"""A create-session request body, checked: each field as documented, the first problem
answered as a ValidationError naming the field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from foundation.phone import presented_clid
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import ValidationError
from pci_bridge.stored_cards import WAIT_DEFAULT, WAIT_MAX

E164 = re.compile(r"\+[1-9]\d{6,14}")
AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
FIELDS = {"amount", "currency", "reference", "description", "caller_clid", "card_token",
          "save_card", "max_cards", "wait"}


@dataclass(frozen=True)
class SessionRequest:
    """What a create asks for, normalised (amount with two places, currency upper case, a
    withheld caller as "")."""

    amount: str
    currency: str
    reference: str
    caller_clid: str
    save_card: bool = False
    description: str | None = None
    card_token: str | None = None
    max_cards: int | None = None
    wait: int = WAIT_DEFAULT  # how long to wait is not part of what is asked for

    def asked(self) -> dict[str, Any]:
        """What was asked for, as compared between replays of one Idempotency-Key."""
        out: dict[str, Any] = {"amount": self.amount, "currency": self.currency,
                               "reference": self.reference, "caller_clid": self.caller_clid,
                               "save_card": self.save_card}
        if self.max_cards is not None:
            out["max_cards"] = self.max_cards
        if self.description is not None:
            out["description"] = self.description
        if self.card_token:
            out["card_token"] = self.card_token
        return out


def session_request(body: Any, config: BridgeConfig) -> SessionRequest:
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    for key in body:
        if key not in FIELDS:
            raise ValidationError(key, f"unknown field (allowed: {', '.join(sorted(FIELDS))})")
    amount = body.get("amount")
    if not isinstance(amount, str):
        raise ValidationError("amount", 'give the amount as a decimal string, e.g. "42.50"')
    if not AMOUNT.fullmatch(amount):  # Decimal() alone would take "1_000" or "4.2E+1"
        raise ValidationError("amount", f"'{amount}' is not a decimal amount like 42.50")
    value = Decimal(amount)
    if not value.is_finite() or value <= 0:
        raise ValidationError("amount", "must be more than zero")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationError("amount", "at most two decimal places")
    if value > Decimal("1000000"):
        raise ValidationError("amount", "must be at most 1000000")
    currency = body.get("currency")
    if not isinstance(currency, str) or currency.upper() not in config.currencies:
        raise ValidationError("currency", f"unsupported currency {currency!r} (one of "
                              f"{', '.join(config.currencies)})")
    reference = body.get("reference")
    if not isinstance(reference, str) or not reference.strip() or len(reference) > 64:
        raise ValidationError("reference", "required text of at most 64 characters")
    description = body.get("description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > 200):
        raise ValidationError("description", "text of at most 200 characters")
    caller = body.get("caller_clid")
    if caller is None:
        caller = ""
    if not isinstance(caller, str):
        raise ValidationError("caller_clid", "expected an E.164 number or empty")
    caller = presented_clid(caller)
    if caller and not E164.fullmatch(caller):
        raise ValidationError("caller_clid", f"'{caller}' is not an E.164 number")
    token = body.get("card_token")
    if token is not None and (not isinstance(token, str) or not token.strip()
                              or len(token) > 64):
        raise ValidationError("card_token", "expected a card token (at most 64 characters)")
    save = body.get("save_card", False)
    if not isinstance(save, bool):
        raise ValidationError("save_card", "expected true or false")
    max_cards = body.get("max_cards")
    if max_cards is not None and (isinstance(max_cards, bool) or not isinstance(
            max_cards, int) or not 1 <= max_cards <= config.max_cards):
        raise ValidationError("max_cards", f"a whole number from 1 to {config.max_cards}")
    wait = body.get("wait", WAIT_DEFAULT)
    if isinstance(wait, bool) or not isinstance(wait, int) or not 0 <= wait <= WAIT_MAX:
        raise ValidationError("wait", f"a whole number of seconds from 0 to {WAIT_MAX}")
    return SessionRequest(
        amount=str(value.quantize(Decimal("0.01"))), currency=currency.upper(),
        reference=reference.strip(), caller_clid=caller, save_card=save,
        description=description, card_token=token.strip() if token else None,
        max_cards=max_cards, wait=wait)
