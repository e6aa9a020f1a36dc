"""Payment gateways behind one interface. `simulated` (the default) stands in for a card network:
it answers by the documented test-card table, may add latency, charges at most once per
idempotency key, and mints tokens for stored-card payments."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from pci_bridge.errors import GatewayError
from pci_bridge.kinds import ChargeStatus
from pci_bridge.ledger import Ledger, charges, tokens


@dataclass(frozen=True)
class Card:
    """Card data for one charge: it lives only for the duration of the gateway call."""

    number: str
    exp_month: int
    exp_year: int
    code: str
    brand: str
    postcode: str | None = None

    def __repr__(self) -> str:  # never print card data, even by accident
        return f"Card({self.brand} ending {self.number[-4:]})"

    __str__ = __repr__


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str
    decline_code: str | None = None
    message: str | None = None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    token: str | None = None

    def __post_init__(self) -> None:  # read back from JSON as a plain string
        object.__setattr__(self, "status", ChargeStatus(self.status))


class Gateway(Protocol):
    name: str

    def charge(
        self,
        *,
        key: str,
        amount: Decimal,
        currency: str,
        card: Card | None = None,
        token: str | None = None,
        save_card: bool = False,
    ) -> ChargeResult: ...

    def lookup(self, key: str) -> ChargeResult | None:
        """The answer already given for an idempotency key, if any (for recovery)."""
        ...


# The documented test cards (pci-bridge.md): number → (status, decline code or error code).
TEST_CARDS: dict[str, tuple[ChargeStatus, str | None]] = {
    "4242424242424242": (ChargeStatus.SUCCESS, None),
    "5555555555554444": (ChargeStatus.SUCCESS, None),
    "2223003122003222": (ChargeStatus.SUCCESS, None),
    "378282246310005": (ChargeStatus.SUCCESS, None),
    "6011111111111117": (ChargeStatus.SUCCESS, None),
    "4000000000000002": (ChargeStatus.DECLINED, "generic_decline"),
    "4000000000009995": (ChargeStatus.DECLINED, "insufficient_funds"),
    "4000000000009987": (ChargeStatus.DECLINED, "lost_card"),
    "4000000000009979": (ChargeStatus.DECLINED, "stolen_card"),
    "4000000000000069": (ChargeStatus.DECLINED, "expired_card"),
    "4000000000000127": (ChargeStatus.DECLINED, "incorrect_cvc"),
    "4000000000000119": (ChargeStatus.ERROR, "processing_error"),
}
# Cards that pay once but whose saved token is declined later (scheduled payments that fail):
# the card succeeds, a stored-card charge with its token is declined for this reason.
LATER_DECLINES = {"4000000000000341": "insufficient_funds"}

MESSAGES = {
    "generic_decline": "no reason was given",
    "insufficient_funds": "insufficient funds",
    "lost_card": "the card was reported lost",
    "stolen_card": "the card was reported stolen",
    "expired_card": "the card has expired",
    "incorrect_cvc": "the security code is incorrect",
    "processing_error": "the payment could not be processed",
    "unknown_token": "the stored card was not found",
}


class SimulatedGateway:
    """Behaves like a card gateway for the test cards; its records live in the ledger's
    database (charges by idempotency key, tokens), so a restart never charges twice."""

    name = "simulated"

    def __init__(self, ledger: Ledger, latency: float = 0.0):
        self.ledger = ledger
        self.latency = latency

    def lookup(self, key: str) -> ChargeResult | None:
        with self.ledger.db.connect() as conn:
            row = conn.execute(
                select(charges.c.result).where(charges.c.idempotency_key == key)
            ).first()
        return ChargeResult(**json.loads(row[0])) if row is not None else None

    def charge(
        self,
        *,
        key: str,
        amount: Decimal,
        currency: str,
        card: Card | None = None,
        token: str | None = None,
        save_card: bool = False,
    ) -> ChargeResult:
        earlier = self.lookup(key)
        if earlier is not None:
            return earlier  # the same key: the first answer
        if self.latency:
            time.sleep(self.latency)
        result = self._decide(card, token, save_card)
        try:
            with self.ledger.db.begin() as conn:
                conn.execute(
                    insert(charges).values(idempotency_key=key, result=json.dumps(asdict(result)))
                )
        except IntegrityError:  # a concurrent charge with the same key won: use its answer
            with self.ledger.db.connect() as conn:
                stored = conn.execute(
                    select(charges.c.result).where(charges.c.idempotency_key == key)
                ).scalar_one()
            return ChargeResult(**json.loads(stored))
        return result

    def _decide(self, card: Card | None, token: str | None, save_card: bool) -> ChargeResult:
        reference = "ch_" + secrets.token_hex(8)
        if token is not None:
            with self.ledger.db.connect() as conn:
                stored = conn.execute(select(tokens).where(tokens.c.token == token)).first()
            if stored is None:
                return ChargeResult(
                    ChargeStatus.DECLINED, reference, "unknown_token", MESSAGES["unknown_token"]
                )
            behaviour = stored.behaviour
            if behaviour == "success":
                status, code = ChargeStatus.SUCCESS, None
            elif behaviour == "processing_error":
                status, code = ChargeStatus.ERROR, behaviour
            else:
                status, code = ChargeStatus.DECLINED, behaviour
            return ChargeResult(
                status,
                reference,
                code,
                MESSAGES.get(code or ""),
                stored.brand,
                stored.last4,
                stored.exp_month,
                stored.exp_year,
                token,
            )
        if card is None:
            raise GatewayError("a charge needs a card or a token")
        status, code = TEST_CARDS.get(card.number, (ChargeStatus.SUCCESS, None))
        minted = None
        if save_card and status == ChargeStatus.SUCCESS:
            minted = "tok_" + secrets.token_hex(12)
            with self.ledger.db.begin() as conn:
                conn.execute(
                    insert(tokens).values(
                        token=minted,
                        brand=card.brand,
                        last4=card.number[-4:],
                        exp_month=card.exp_month,
                        exp_year=card.exp_year,
                        behaviour=LATER_DECLINES.get(card.number, "success"),
                    )
                )
        return ChargeResult(
            status,
            reference,
            code,
            MESSAGES.get(code or ""),
            card.brand,
            card.number[-4:],
            card.exp_month,
            card.exp_year,
            minted,
        )

    def ensure_token(
        self,
        token: str,
        *,
        brand: str,
        last4: str,
        exp_month: int,
        exp_year: int,
        behaviour: str = "success",
    ) -> None:
        """Register a known token (demo data: a card on file) if it is not there yet."""
        with self.ledger.db.connect() as conn:
            if conn.execute(select(tokens.c.token).where(tokens.c.token == token)).first():
                return
        try:
            with self.ledger.db.begin() as conn:
                conn.execute(
                    insert(tokens).values(
                        token=token,
                        brand=brand,
                        last4=last4,
                        exp_month=exp_month,
                        exp_year=exp_year,
                        behaviour=behaviour,
                    )
                )
        except IntegrityError:
            pass

    def mint_token(
        self, *, brand: str, last4: str, exp_month: int, exp_year: int, behaviour: str = "success"
    ) -> str:
        """A stored card for tests and demo data (the number itself is never stored)."""
        token = "tok_" + secrets.token_hex(12)
        with self.ledger.db.begin() as conn:
            conn.execute(
                insert(tokens).values(
                    token=token,
                    brand=brand,
                    last4=last4,
                    exp_month=exp_month,
                    exp_year=exp_year,
                    behaviour=behaviour,
                )
            )
        return token
