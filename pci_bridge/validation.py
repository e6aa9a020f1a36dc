"""A create-session request body, checked against the OpenAPI document's `NewSession` schema
(pci_bridge/openapi.py) and then for what a schema cannot say (a decimal amount, a currency
this bridge takes, an E.164 caller once a withheld one is set aside, the configured number of
cards). The first problem (fields are checked in the order they always were) is answered as a
ValidationError naming the field, in the same words whichever of the two found it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator

from foundation.phone import E164, presented_clid
from pci_bridge.config import BridgeConfig
from pci_bridge.errors import ValidationError
from pci_bridge.openapi import document
from pci_bridge.prompts import speaks
from pci_bridge.stored_cards import WAIT_DEFAULT, WAIT_MAX

AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
TAG = re.compile(r"[a-z]{2,3}-[A-Z]{2}")
SCHEMA = document()["components"]["schemas"]["NewSession"]
_VALIDATOR = Draft202012Validator(SCHEMA)
FIELDS = tuple(sorted(SCHEMA["properties"]))
# Optional fields the API has always taken as absent when they are null.
NULL_IS_ABSENT = frozenset({"description", "caller_clid", "card_token", "max_cards", "language"})


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
    language: str | None = None  # the leg's prompts (None: the bridge's own language)
    wait: int = WAIT_DEFAULT  # how long to wait is not part of what is asked for

    def asked(self) -> dict[str, Any]:
        """What was asked for, as compared between replays of one Idempotency-Key."""
        out: dict[str, Any] = {
            "amount": self.amount,
            "currency": self.currency,
            "reference": self.reference,
            "caller_clid": self.caller_clid,
            "save_card": self.save_card,
        }
        if self.max_cards is not None:
            out["max_cards"] = self.max_cards
        if self.description is not None:
            out["description"] = self.description
        if self.card_token:
            out["card_token"] = self.card_token
        if self.language is not None:
            out["language"] = self.language
        return out


def session_request(body: Any, config: BridgeConfig) -> SessionRequest:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if not (v is None and k in NULL_IS_ABSENT)}
    wrong = _schema_problems(body)

    def check(field: str, fine: bool = True) -> None:
        """Answer the field's problem if the schema found one, or `fine` is false."""
        if field in wrong or not fine:
            raise ValidationError(field, _problem(field, body.get(field), config))

    check("amount")
    amount = _amount(body["amount"])
    check("currency")  # the schema first: then the field has the type it says
    currency = body["currency"]
    check("currency", currency.upper() in config.currencies)
    check("reference")
    reference = body["reference"]
    check("reference", bool(reference.strip()))
    check("description")
    check("caller_clid")
    caller = presented_clid(body.get("caller_clid", ""))
    if caller and not E164.fullmatch(caller):
        raise ValidationError("caller_clid", f"'{caller}' is not an E.164 number")
    check("card_token")
    token = body.get("card_token")
    check("card_token", token is None or bool(token.strip()))
    check("save_card")
    check("max_cards")
    max_cards = body.get("max_cards")
    check(
        "max_cards",
        max_cards is None
        or (  # 2.0 passes the schema's integer
            isinstance(max_cards, int) and max_cards <= config.max_cards
        ),
    )
    if Decimal(amount) == 0 and (body.get("save_card") is not True or token is not None):
        raise ValidationError(
            "amount",
            "must be more than zero (a zero amount only verifies and saves a card: "
            "save_card true, no card_token)",
        )
    check("language")
    language = body.get("language") or None  # "" (a plan without languages): the bridge's
    check("language", language is None or bool(TAG.fullmatch(language) and speaks(language)))
    check("wait")
    wait = body.get("wait", WAIT_DEFAULT)
    check("wait", isinstance(wait, int))
    return SessionRequest(
        amount=amount,
        currency=currency.upper(),
        reference=reference.strip(),
        caller_clid=caller,
        save_card=body.get("save_card", False),
        description=body.get("description"),
        card_token=token.strip() if token else None,
        max_cards=max_cards,
        language=language,
        wait=wait,
    )


def _schema_problems(body: Any) -> set[str]:
    """The fields the schema finds wrong (a body that is not an object, or has a field the
    schema does not know, is answered at once)."""
    wrong = set()
    for error in _VALIDATOR.iter_errors(body):
        if error.path:
            wrong.add(str(error.path[0]))
        elif error.validator == "type":
            raise ValidationError("body", "expected a JSON object")
        elif error.validator == "additionalProperties":
            unknown = next(k for k in body if k not in SCHEMA["properties"])
            raise ValidationError(unknown, f"unknown field (allowed: {', '.join(FIELDS)})")
        elif error.validator == "required":
            wrong.update(f for f in SCHEMA["required"] if f not in body)
    return wrong


def _problem(field: str, value: Any, config: BridgeConfig) -> str:
    """What is wrong with a field, in the words the API has always used."""
    messages = {
        "amount": 'give the amount as a decimal string, e.g. "42.50"',
        "currency": f"unsupported currency {value!r} (one of {', '.join(config.currencies)})",
        "reference": "required text of at most 64 characters",
        "description": "text of at most 200 characters",
        "caller_clid": "expected an E.164 number or empty",
        "card_token": "expected a card token (at most 64 characters)",
        "save_card": "expected true or false",
        "max_cards": f"a whole number from 1 to {config.max_cards}",
        "wait": f"a whole number of seconds from 0 to {WAIT_MAX}",
        "language": f"{value!r} is not a language the payment line speaks: a tag such as "
        "en-GB or cy-GB (English or Welsh)",
    }
    return messages[field]


def _amount(text: str) -> str:
    """A decimal of at most two places from 0 (a card verified and saved, nothing taken) to
    1000000, with two places."""
    if not AMOUNT.fullmatch(text):  # Decimal() alone would take "1_000" or "4.2E+1"
        raise ValidationError("amount", f"'{text}' is not a decimal amount like 42.50")
    value = Decimal(text)
    if not value.is_finite() or value < 0:
        raise ValidationError("amount", "must be more than zero")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationError("amount", "at most two decimal places")
    if value > Decimal("1000000"):
        raise ValidationError("amount", "must be at most 1000000")
    return str(value.quantize(Decimal("0.01")))
