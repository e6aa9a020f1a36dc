"""The PCI bridge's payment leg driven as Twilio drives it: a session created over the API, then
TwilioSimulator calls the transfer number presenting the session's CLID and keys the card.
Covers the documented test cards, prompt order and words, re-prompts and attempt budgets,
cancelling, abandoning, declines and another card, repeated webhooks, refused legs,
signatures, and card data in Redis (sealed, short-lived, deleted after the charge).

Every TwiML document the bridge answers is validated against Twilio's XSD."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from ivr.phone import CallResult, KeySource, TwilioSimulator
from ivr.phone.transport import FlaskTransport
from pci_bridge.app import Bridge
from pci_bridge.codes import spoken
from pci_bridge.config import BridgeConfig
from pci_bridge.gateway import Card, ChargeResult
from pci_bridge.ledger import attempts, charges, sessions, tokens
from pci_bridge.state import MemoryState, RedisState
from tests.conftest import Clock, keyed_bridge_app
from tests.test_twiml import assert_valid_twiml

CALLER = "+447700900123"
EXPIRY = "1230"  # December 2030: in the future for the conftest clock (20 Nov 2026)
VISA = "4242424242424242"
VOICE_URL = "/pci/voice"
STATUS_URL = "/pci/voice/status"
LONG_DIGIT_RUN = re.compile(r"\d{6,}")


# --- what the bridge answers, recorded and validated -----------------------------------------


@dataclass
class Exchange:
    """One webhook request the simulator made and the bridge's answer."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    body: str
    duplicate: tuple[int, str] | None = None  # the answer to an immediate repeat, if sent

    @property
    def is_twiml(self) -> bool:
        return not self.url.startswith(STATUS_URL)


class RecordingTransport(FlaskTransport):
    """FlaskTransport that keeps every exchange, validates every TwiML answer against the XSD,
    may deliver chosen requests twice (as Twilio may: right after, or at the same moment from
    another thread), and calls `after` after each request."""

    def __init__(
        self,
        app: Flask,
        *,
        repeat: Callable[[str, dict[str, str]], bool] | None = None,
        concurrent: bool = False,
        after: Callable[[Exchange], None] | None = None,
    ):
        super().__init__(app)
        self.app = app
        self.repeat = repeat
        self.concurrent = concurrent
        self.after = after
        self.exchanges: list[Exchange] = []

    def _send(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        response = self.app.test_client().post(url, data=params, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
        repeated = self.repeat is not None and self.repeat(url, params)
        duplicate: list[tuple[int, str]] = []
        other = threading.Thread(target=lambda: duplicate.append(self._send(url, params, headers)))
        if repeated and self.concurrent:
            other.start()
        status, body = super().post(url, params, headers)
        if repeated and self.concurrent:
            other.join(timeout=20)
        elif repeated:
            duplicate.append(self._send(url, params, headers))
        exchange = Exchange(
            url, dict(params), dict(headers), status, body, duplicate[0] if duplicate else None
        )
        for answer_status, answer in [(status, body), *duplicate]:
            if exchange.is_twiml:
                assert answer_status == 200, f"{url} answered {answer_status}: {answer}"
                assert_valid_twiml(answer)
        self.exchanges.append(exchange)
        if self.after is not None:
            self.after(exchange)
        return status, body


@dataclass
class Doc:
    """One TwiML answer, read the way a caller hears it."""

    url: str
    leads: list[str]  # Say texts before the Gather (or all of them when there is none)
    prompt: str | None  # the Say inside the Gather
    gather: dict[str, str] | None
    hangup: bool  # the document's last verb is <Hangup/>

    @property
    def kind(self) -> str | None:
        return prompt_kind(self.prompt) if self.prompt is not None else None


def prompt_kind(text: str) -> str:
    """Tell prompts apart by the words the contract guarantees."""
    lowered = text.lower()
    for words, kind in (
        ("another card", "another"),
        ("card number", "number"),
        ("expiry", "expiry"),
        ("security code", "code"),
        ("postcode", "postcode"),
        ("press 1", "confirm"),
    ):
        if words in lowered:
            return kind
    raise AssertionError(f"a prompt of no known kind: {text!r}")


def read_doc(url: str, body: str) -> Doc:
    root = etree.fromstring(body.encode())
    leads: list[str] = []
    prompt = None
    gather = None
    for verb in root:
        if verb.tag == "Say" and gather is None:
            leads.append(" ".join((verb.text or "").split()))
        elif verb.tag == "Gather":
            gather = dict(verb.attrib)
            says = [" ".join((s.text or "").split()) for s in verb if s.tag == "Say"]
            prompt = " ".join(says)
    return Doc(url, leads, prompt, gather, hangup=len(root) > 0 and root[-1].tag == "Hangup")


@dataclass
class PaidCall:
    result: CallResult
    transport: RecordingTransport
    keys: KeySource

    @property
    def docs(self) -> list[Doc]:
        return [read_doc(e.url, e.body) for e in self.transport.exchanges if e.is_twiml]

    @property
    def heard(self) -> list[str]:
        return self.result.heard()

    @property
    def said(self) -> str:
        return " | ".join(self.heard)

    @property
    def prompts(self) -> list[str]:
        return [d.kind for d in self.docs if d.kind is not None]

    @property
    def last(self) -> Doc:
        return self.docs[-1]

    def turn(self, kind: str) -> Exchange:
        """The (last) request that answered a prompt of this kind."""
        webhooks = [e for e in self.transport.exchanges if e.is_twiml]
        answered = None
        for asked, answer in zip(webhooks, webhooks[1:], strict=False):
            if read_doc(asked.url, asked.body).kind == kind:
                answered = answer
        assert answered is not None, f"no answer to a {kind} prompt"
        return answered

    def assert_hung_up_by_bridge(self) -> None:
        assert self.result.ended_by == "twiml", self.result.events
        assert self.last.hangup, f"the leg must end with <Hangup/>: {self.transport.exchanges[-2]}"
        assert self.last.gather is None
        assert self.result.events[-2].kind == "hangup"


# --- the bridge under test -------------------------------------------------------------------


@dataclass
class PciHarness:
    app: Flask
    clock: Clock
    extra_closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def bridge(self) -> Bridge:
        return self.app.extensions["pci_bridge"]

    def create(
        self, amount: str = "42.50", currency: str = "GBP", caller: str = CALLER, **extra: Any
    ) -> dict[str, Any]:
        body = {
            "amount": amount,
            "currency": currency,
            "reference": "ACC-1001",
            "caller_clid": caller,
            **extra,
        }
        response = self.app.test_client().post("/pci/v1/sessions", json=body)
        assert response.status_code == 201, response.get_json()
        view = response.get_json()
        assert view["state"] == "created" and view["result"] is None
        return view

    def view(self, session_id: str) -> dict[str, Any]:
        response = self.app.test_client().get(f"/pci/v1/sessions/{session_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def pay(
        self,
        session: dict[str, Any],
        entries: list[str],
        *,
        caller: str | None = None,
        hangup_after: int | None = None,
        auth_token: str | None = None,
        keys: KeySource | None = None,
        transport: RecordingTransport | None = None,
        on_before_end: Callable[[str], None] | None = None,
    ) -> PaidCall:
        transport = transport or RecordingTransport(self.app)
        sim = TwilioSimulator(
            transport,
            voice_url=VOICE_URL,
            status_url=STATUS_URL,
            auth_token=auth_token,
            on_before_end=on_before_end,
        )
        keys = keys or KeySource(entries)
        result = sim.call(
            session["transfer_number"],
            session["clid"] if caller is None else caller,
            keys,
            hangup_after=hangup_after,
        )
        return PaidCall(result, transport, keys)

    def charges(self) -> int:
        with self.bridge.ledger.db.connect() as conn:
            return conn.execute(select(func.count()).select_from(charges)).scalar_one()

    def state_keys(self) -> list[str]:
        state = self.bridge.state
        if isinstance(state, RedisState):
            return [k.decode() if isinstance(k, bytes) else k for k in state.client.keys("pci:*")]
        return state.keys()  # type: ignore[attr-defined]

    def card_key(self, session_id: str) -> str:
        return f"pci:leg:{session_id}:card"

    def assert_no_card_data(self, session_id: str, *secrets: str) -> None:
        """No sealed card record left, and no card number anywhere in the live state or the
        ledger (the brand, last four and expiry month/year are allowed)."""
        assert self.card_key(session_id) not in self.state_keys()
        for key in self.state_keys():
            value = self.bridge.state.get(key) or ""
            for secret in secrets:
                assert secret not in value, f"{key} holds card data"
        with self.bridge.ledger.db.connect() as conn:
            for table in (sessions, attempts, charges, tokens):
                for row in conn.execute(select(table)):
                    text = json.dumps([str(v) for v in row])
                    for secret in secrets:
                        assert secret not in text, f"{table.name} holds card data: {text}"


@pytest.fixture
def pci(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., PciHarness]]:
    """Build bridges: `pci(ask_postcode=True, state=...)`; each gets its own SQLite file."""
    made: list[PciHarness] = []
    counter = itertools.count()

    def build(*, state: Any = None, **config: Any) -> PciHarness:
        db = tmp_path / f"pci{next(counter)}.sqlite3"
        app = keyed_bridge_app(
            BridgeConfig(database_url=f"sqlite:///{db}", **config), clock=clock, state=state
        )
        harness = PciHarness(app, clock)
        made.append(harness)
        return harness

    yield build
    for harness in made:
        harness.bridge.close()


def card(number: str = VISA, code: str = "123", expiry: str = EXPIRY) -> list[str]:
    """The entries for one card up to and including pressing 1 to confirm."""
    return [number + "#", expiry, code, "1"]


def assert_success(view: dict[str, Any], brand: str, number: str, *, attempts: int = 1) -> None:
    assert view["state"] == "completed", view
    result = view["result"]
    assert result["outcome"] == "success"
    assert re.fullmatch(r"[A-Z0-9]{4,}", result["confirmation_code"] or "")
    assert result["card"] == {
        "brand": brand,
        "last4": number[-4:],
        "exp_month": 12,
        "exp_year": 2030,
    }
    assert result["gateway"]["name"] == "simulated"
    assert result["gateway"]["reference"]
    assert result["gateway"]["decline_code"] is None
    assert result["attempts"] == attempts
    assert result["amount"] == "42.50" and result["currency"] == "GBP"


# --- the documented test cards ---------------------------------------------------------------

SUCCESS_CARDS = [
    ("4242424242424242", "visa", "123"),
    ("5555555555554444", "mastercard", "123"),
    ("2223003122003222", "mastercard", "123"),
    ("378282246310005", "amex", "1234"),
]

# decline code → words the caller must hear (the reason in plain words)
DECLINED_CARDS = [
    ("4000000000000002", "generic_decline", ()),
    ("4000000000009995", "insufficient_funds", ("insufficient funds",)),
    ("4000000000009987", "lost_card", ("lost",)),
    ("4000000000009979", "stolen_card", ("stolen",)),
    ("4000000000000069", "expired_card", ("expired",)),
    ("4000000000000127", "incorrect_cvc", ("security code",)),
]


@pytest.mark.parametrize(
    ("number", "brand", "code"), SUCCESS_CARDS, ids=[c[1] + "-" + c[0][-4:] for c in SUCCESS_CARDS]
)
def test_success_cards(
    pci: Callable[..., PciHarness],
    number: str,
    brand: str,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    harness = pci()
    session = harness.create()
    assert session["clid"] == CALLER
    call = harness.pay(session, card(number, code))

    call.assert_hung_up_by_bridge()
    assert call.keys.entries == []
    view = harness.view(session["session_id"])
    assert_success(view, brand, number)
    assert harness.charges() == 1
    code_spoken = spoken(view["result"]["confirmation_code"])
    assert any(
        code_spoken in line or view["result"]["confirmation_code"] in line for line in call.heard
    ), call.said
    assert "successful" in call.said.lower()
    harness.assert_no_card_data(session["session_id"], number)
    # card digits travel only in POST bodies: never in a URL, never in a log line
    for exchange in call.transport.exchanges:
        assert number not in exchange.url and EXPIRY not in exchange.url
    assert not any(number in r.getMessage() for r in caplog.records)
    # the API finds the finished session by its CLID too
    by_clid = (
        harness.app.test_client().get("/pci/v1/sessions", query_string={"clid": CALLER}).get_json()
    )
    assert by_clid["session_id"] == session["session_id"]
    assert by_clid["result"] == view["result"]


def test_amex_needs_a_four_digit_security_code(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, ["378282246310005#", EXPIRY, "123", "1234", "1"])

    code_docs = [d for d in call.docs if d.kind == "code"]
    assert len(code_docs) == 2
    assert all(d.gather and d.gather.get("numDigits") == "4" for d in code_docs)
    assert "4 digit" in code_docs[0].prompt  # type: ignore[operator]
    assert any("4 digits" in line for line in code_docs[1].leads), code_docs[1]
    assert_success(harness.view(session["session_id"]), "amex", "378282246310005")


def test_visa_security_code_is_three_digits(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, card())
    code_doc = next(d for d in call.docs if d.kind == "code")
    assert code_doc.gather and code_doc.gather.get("numDigits") == "3"
    assert "3 digit" in (code_doc.prompt or "")


@pytest.mark.parametrize(
    ("number", "decline_code", "words"), DECLINED_CARDS, ids=[c[1] for c in DECLINED_CARDS]
)
def test_declined_cards(
    pci: Callable[..., PciHarness], number: str, decline_code: str, words: tuple[str, ...]
) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, [*card(number), "2"])  # declined; 2: no other card

    call.assert_hung_up_by_bridge()
    assert call.keys.entries == []
    decline_lines = [line for line in call.heard if "declined" in line.lower()]
    assert decline_lines, call.said
    for word in words:
        assert word in decline_lines[0].lower(), decline_lines[0]
    assert decline_code not in call.said  # plain words, not the code
    assert "another" in call.prompts
    view = harness.view(session["session_id"])
    assert view["state"] == "failed"
    result = view["result"]
    assert result["outcome"] == "declined"
    assert result["confirmation_code"] is None
    assert result["gateway"]["decline_code"] == decline_code
    assert result["card"]["last4"] == number[-4:]
    assert result["attempts"] == 1
    harness.assert_no_card_data(session["session_id"], number)


def test_gateway_error(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, card("4000000000000119"))

    call.assert_hung_up_by_bridge()
    assert "another" not in call.prompts
    assert "no money has been taken" in call.said.lower()
    view = harness.view(session["session_id"])
    assert view["state"] == "failed"
    assert view["result"]["outcome"] == "gateway_error"
    assert view["result"]["gateway"]["decline_code"] == "processing_error"
    assert view["result"]["confirmation_code"] is None
    harness.assert_no_card_data(session["session_id"], "4000000000000119")


def test_discover_is_a_card_type_not_accepted_by_default(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, ["6011111111111117#", *card()])

    number_docs = [d for d in call.docs if d.kind == "number"]
    assert len(number_docs) == 2
    reason = " ".join(number_docs[1].leads)
    assert "Discover" in reason and "accept" in reason, reason
    assert harness.charges() == 1
    assert_success(harness.view(session["session_id"]), "visa", VISA)


def test_discover_accepted_when_configured(pci: Callable[..., PciHarness]) -> None:
    harness = pci(accepted_brands=("visa", "mastercard", "amex", "discover"))
    session = harness.create()
    call = harness.pay(session, card("6011111111111117"))
    call.assert_hung_up_by_bridge()
    assert_success(harness.view(session["session_id"]), "discover", "6011111111111117")


def test_any_other_luhn_valid_card_of_an_accepted_brand_succeeds(
    pci: Callable[..., PciHarness],
) -> None:
    harness = pci()
    session = harness.create()
    harness.pay(session, card("4111111111111111"))
    assert_success(harness.view(session["session_id"]), "visa", "4111111111111111")


# --- prompts: order and words ----------------------------------------------------------------


def test_prompt_order_and_words(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, card())

    assert call.prompts == ["number", "expiry", "code", "confirm"]
    first = call.docs[0]
    intro = " ".join(first.leads)
    assert "£42.50" in intro and "Example Telecom" in intro, intro
    assert call.heard.index(first.leads[0]) < call.heard.index(first.prompt or "")
    number, expiry, code, confirm = [d for d in call.docs if d.kind]
    assert number.gather and number.gather["finishOnKey"] == "#"
    assert "hash" in (number.prompt or "").lower() or "#" in (number.prompt or "")
    assert expiry.gather and expiry.gather["numDigits"] == "4"
    assert "four digits" in (expiry.prompt or "") or "4 digits" in (expiry.prompt or "")
    assert code.gather and code.gather["numDigits"] == "3"
    text = confirm.prompt or ""
    assert "£42.50" in text and "Visa" in text and "press 1" in text and "press 2" in text
    assert re.search(r"4 ?2 ?4 ?2", text), text
    # the full number is never read back
    assert not any(VISA in line for line in call.heard)
    for doc in call.docs[:-1]:
        assert doc.gather is not None
        assert doc.gather["input"] == "dtmf"
        assert "/pci/voice/turn/" in doc.gather["action"]


def test_postcode_asked_only_when_configured(pci: Callable[..., PciHarness]) -> None:
    harness = pci(ask_postcode=True)
    session = harness.create()
    call = harness.pay(session, [VISA + "#", EXPIRY, "123", "1234#", "1"])
    assert call.prompts == ["number", "expiry", "code", "postcode", "confirm"]
    postcode = next(d for d in call.docs if d.kind == "postcode")
    assert postcode.gather and postcode.gather["finishOnKey"] == "#"
    assert_success(harness.view(session["session_id"]), "visa", VISA)


def test_amount_spoken_in_its_currency(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create(amount="7", currency="EUR")
    call = harness.pay(session, ["*"])
    assert "€7" in " ".join(call.docs[0].leads), call.docs[0]


# --- re-prompts with the reason, and the attempt budget --------------------------------------


@pytest.mark.parametrize(
    ("entries", "stage", "reason"),
    [
        (["4242424242424241#", *card()], "number", "not valid"),
        (["4242#", *card()], "number", "not valid"),
        (["6011111111111117#", *card()], "number", "accept"),
        (["-", *card()], "number", "did not hear"),
        ([VISA + "#", "1025", EXPIRY, "123", "1"], "expiry", "expired"),
        ([VISA + "#", "1326", EXPIRY, "123", "1"], "expiry", "not valid"),
        ([VISA + "#", "0026", EXPIRY, "123", "1"], "expiry", "not valid"),
        ([VISA + "#", "1250", EXPIRY, "123", "1"], "expiry", "not valid"),  # > 20 years ahead
        ([VISA + "#", EXPIRY, "12", "123", "1"], "code", "3 digits"),
        ([VISA + "#", EXPIRY, "123", "5", "1"], "confirm", "press 1"),
    ],
    ids=[
        "luhn",
        "too-short",
        "brand",
        "no-input",
        "expired",
        "month-13",
        "month-00",
        "too-far",
        "code-length",
        "confirm-key",
    ],
)
def test_bad_entry_is_reprompted_with_the_reason(
    pci: Callable[..., PciHarness], entries: list[str], stage: str, reason: str
) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, entries)

    asked = [d for d in call.docs if d.kind == stage]
    assert len(asked) == 2, call.prompts
    assert any(reason in line for line in asked[1].leads), asked[1].leads
    assert call.prompts.count(stage) == 2
    assert_success(harness.view(session["session_id"]), "visa", VISA)
    assert harness.charges() == 1


@pytest.mark.parametrize(
    ("prefix", "bad"),
    [
        ([], "4242424242424241#"),
        ([], "6011111111111117#"),
        ([VISA + "#"], "1025"),
        ([VISA + "#"], "1326"),
        ([VISA + "#", EXPIRY], "12"),
        ([VISA + "#", EXPIRY, "123"], "5"),
    ],
    ids=["luhn", "brand", "expired", "month", "code-length", "confirm-key"],
)
def test_three_bad_entries_for_one_field_end_the_session(
    pci: Callable[..., PciHarness], prefix: list[str], bad: str
) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, [*prefix, bad, bad, bad, "1"])

    call.assert_hung_up_by_bridge()
    assert call.keys.entries == ["1"]  # nothing more was asked after the third bad entry
    view = harness.view(session["session_id"])
    assert view["state"] == "failed"
    assert view["result"]["outcome"] == "too_many_attempts"
    assert view["result"]["confirmation_code"] is None
    assert harness.charges() == 0
    harness.assert_no_card_data(session["session_id"], VISA)


def test_attempt_budget_is_per_field_and_configurable(pci: Callable[..., PciHarness]) -> None:
    harness = pci(max_attempts=2)
    session = harness.create()
    # one bad entry in each field stays within a budget of two per field
    call = harness.pay(session, ["4242424242424241#", VISA + "#", "1025", EXPIRY, "12", "123", "1"])
    assert_success(harness.view(session["session_id"]), "visa", VISA)
    assert call.keys.entries == []

    session = harness.create()
    harness.pay(session, [VISA + "#", "1025", "1025"])
    assert harness.view(session["session_id"])["result"]["outcome"] == "too_many_attempts"


@pytest.mark.parametrize(
    ("when", "expiry", "valid"),
    [
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "1126", True),  # the last day of its month
        (datetime(2026, 12, 1, 0, 30, tzinfo=UTC), "1126", False),
        # 23:30 UTC on 31 July is 00:30 on 1 August in London: a 07/26 card has expired there
        (datetime(2026, 7, 31, 23, 30, tzinfo=UTC), "0726", False),
        (datetime(2026, 7, 31, 22, 30, tzinfo=UTC), "0726", True),
    ],
    ids=["last-day", "next-month", "merchant-timezone", "before-midnight-bst"],
)
def test_expiry_valid_through_its_month_in_the_merchant_timezone(
    pci: Callable[..., PciHarness], clock: Clock, when: datetime, expiry: str, valid: bool
) -> None:
    clock.set(when)
    harness = pci()
    session = harness.create()
    call = harness.pay(
        session, [VISA + "#", expiry, "123", "1"] if valid else [VISA + "#", expiry, "-"]
    )
    if valid:
        assert harness.view(session["session_id"])["state"] == "completed"
    else:
        second = [d for d in call.docs if d.kind == "expiry"][1]
        assert any("expired" in line for line in second.leads), second


# --- cancelling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entries",
    [
        ["*"],
        ["4242*"],
        [VISA + "#", "*"],
        [VISA + "#", EXPIRY, "*"],
        [VISA + "#", EXPIRY, "123", "*"],
        [VISA + "#", EXPIRY, "123", "2"],
    ],
    ids=["at-number", "within-number", "at-expiry", "at-code", "at-confirm", "confirm-2"],
)
def test_star_cancels_at_any_prompt(pci: Callable[..., PciHarness], entries: list[str]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, entries)

    call.assert_hung_up_by_bridge()
    assert call.keys.entries == []
    assert "cancelled" in call.said.lower()
    view = harness.view(session["session_id"])
    assert view["state"] == "cancelled"
    assert view["result"]["outcome"] == "cancelled"
    assert view["result"]["confirmation_code"] is None
    assert harness.charges() == 0
    harness.assert_no_card_data(session["session_id"], VISA)


def test_star_cancels_after_a_decline(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    harness.pay(session, [*card("4000000000000002"), "1", "*"])
    view = harness.view(session["session_id"])
    assert view["state"] == "cancelled" and view["result"]["outcome"] == "cancelled"
    assert harness.charges() == 1  # the declined attempt only


def test_session_cancelled_over_the_api_during_the_leg(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    client = harness.app.test_client()

    def entries(prompt: str) -> str | None:
        if "card number" in prompt:
            return VISA + "#"
        if "expiry" in prompt:  # the plan gives up while the caller is keying the card
            cancel = client.post(f"/pci/v1/sessions/{session['session_id']}/cancel")
            assert cancel.status_code == 200
            return EXPIRY
        return "123" if "security code" in prompt else "1"

    call = harness.pay(session, [], keys=KeySource(ask=entries))
    call.assert_hung_up_by_bridge()
    assert harness.view(session["session_id"])["state"] == "cancelled"
    assert harness.charges() == 0
    harness.assert_no_card_data(session["session_id"], VISA)


# --- the caller hangs up ---------------------------------------------------------------------


@pytest.mark.parametrize("hangup_after", [0, 1, 2, 3])
def test_caller_hanging_up_abandons_the_session(
    pci: Callable[..., PciHarness], hangup_after: int
) -> None:
    harness = pci()
    session = harness.create()
    session_id = session["session_id"]
    before_end: list[bool] = []

    def check(_: str) -> None:  # before Twilio's status callback
        before_end.append(harness.card_key(session_id) in harness.state_keys())
        assert harness.view(session_id)["state"] == "in_progress"

    call = harness.pay(session, card(), hangup_after=hangup_after, on_before_end=check)

    assert call.result.ended_by == "caller"
    assert before_end == [hangup_after > 0]  # a sealed record existed once the number was in
    view = harness.view(session_id)
    assert view["state"] == "abandoned"
    assert view["result"]["outcome"] == "abandoned"
    assert harness.charges() == 0
    harness.assert_no_card_data(session_id, VISA)
    assert harness.card_key(session_id) not in harness.state_keys()


# --- declines and another card ---------------------------------------------------------------


def test_decline_then_a_good_card(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, [*card("4000000000009995"), "1", *card()])

    call.assert_hung_up_by_bridge()
    assert call.prompts == [
        "number",
        "expiry",
        "code",
        "confirm",
        "another",
        "number",
        "expiry",
        "code",
        "confirm",
    ]
    another = next(d for d in call.docs if d.kind == "another")
    assert any("declined" in line and "insufficient funds" in line for line in another.leads)
    view = harness.view(session["session_id"])
    assert_success(view, "visa", VISA, attempts=2)
    assert harness.charges() == 2
    assert [a["outcome"] for a in harness.bridge.ledger.attempts(session["session_id"])] == [
        "declined",
        "success",
    ]


@pytest.mark.parametrize("max_cards", [3, 2])
def test_declines_up_to_max_cards_end_the_session_declined(
    pci: Callable[..., PciHarness], max_cards: int
) -> None:
    harness = pci() if max_cards == 3 else pci(max_cards=max_cards)
    session = harness.create()
    entries: list[str] = []
    for _ in range(max_cards):
        entries += [*card("4000000000000002"), "1"]
    call = harness.pay(session, entries)

    call.assert_hung_up_by_bridge()
    assert call.keys.entries == ["1"]  # no other card is offered after the last decline
    assert call.prompts.count("another") == max_cards - 1
    assert sum("declined" in line.lower() for line in call.heard) >= max_cards
    assert "declined" in " ".join(call.last.leads).lower()
    view = harness.view(session["session_id"])
    assert view["state"] == "failed"
    assert view["result"]["outcome"] == "declined"
    assert view["result"]["gateway"]["decline_code"] == "generic_decline"
    assert view["result"]["attempts"] == max_cards
    assert harness.charges() == max_cards


# --- repeated webhooks -----------------------------------------------------------------------


def test_confirm_delivered_twice_charges_once(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    confirm_urls: list[str] = []

    def repeat(url: str, params: dict[str, str]) -> bool:
        is_confirm = params.get("Digits") == "1" and "/turn/" in url
        if is_confirm:
            confirm_urls.append(url)
        return is_confirm

    transport = RecordingTransport(harness.app, repeat=repeat)
    call = harness.pay(session, card(), transport=transport)

    assert len(confirm_urls) == 1
    confirm = call.turn("confirm")
    assert confirm.duplicate == (confirm.status, confirm.body)
    view = harness.view(session["session_id"])
    assert_success(view, "visa", VISA)
    assert harness.charges() == 1

    # and once more, long after the call ended: the same answer, nothing charged again
    replay = harness.app.test_client().post(
        confirm.url, data=confirm.params, headers=confirm.headers
    )
    assert replay.status_code == 200
    assert replay.get_data(as_text=True) == confirm.body
    assert harness.charges() == 1
    assert harness.view(session["session_id"]) == view


def test_incoming_delivered_twice_does_not_restart_the_leg(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    transport = RecordingTransport(harness.app, repeat=lambda url, _: url == VOICE_URL)
    call = harness.pay(session, card(), transport=transport)

    first = call.transport.exchanges[0]
    assert first.url == VOICE_URL
    assert first.duplicate == (200, first.body)
    assert call.prompts == ["number", "expiry", "code", "confirm"]
    view = harness.view(session["session_id"])
    assert_success(view, "visa", VISA)

    replay = harness.app.test_client().post(first.url, data=first.params, headers=first.headers)
    assert replay.status_code == 200
    doc = read_doc(first.url, replay.get_data(as_text=True))
    assert_valid_twiml(replay.get_data(as_text=True))
    assert doc.gather is None and doc.hangup  # not a new leg asking for a card
    assert harness.view(session["session_id"]) == view
    assert harness.charges() == 1


def test_each_earlier_turn_repeated_changes_nothing(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    transport = RecordingTransport(harness.app, repeat=lambda url, _: "/turn/" in url)
    call = harness.pay(session, card(), transport=transport)
    for exchange in call.transport.exchanges:
        if "/turn/" in exchange.url:
            assert exchange.duplicate == (exchange.status, exchange.body), exchange.url
    assert call.prompts == ["number", "expiry", "code", "confirm"]
    assert_success(harness.view(session["session_id"]), "visa", VISA)
    assert harness.charges() == 1


class RaceState(MemoryState):
    """Live state that holds each of two requests right after its first look at a call key,
    until both have looked: two deliveries of one webhook read before either takes the lock."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=1)
        self.seen = threading.local()

    def get(self, key: str) -> str | None:
        value = super().get(key)
        if key.startswith("pci:call:") and not getattr(self.seen, "done", False):
            self.seen.done = True
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return value


def test_incoming_delivered_twice_at_once_gets_the_same_twiml(
    pci: Callable[..., PciHarness],
) -> None:
    """Twilio retries a slow webhook: the repeat may arrive while the first is still running."""
    harness = pci(state=RaceState())
    session = harness.create()
    params = {
        "CallSid": "CA" + "7" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": session["clid"],
        "To": session["transfer_number"],
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    answers: list[str] = []

    def deliver() -> None:
        answers.append(
            harness.app.test_client().post(VOICE_URL, data=params).get_data(as_text=True)
        )

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(answers) == 2
    for answer in answers:
        assert_valid_twiml(answer)
    docs = [read_doc(VOICE_URL, answer) for answer in answers]
    assert [d.kind for d in docs] == ["number", "number"], [d.leads for d in docs]
    assert answers[0] == answers[1]
    assert harness.view(session["session_id"])["state"] == "in_progress"


def test_confirm_delivered_twice_at_once_charges_once(pci: Callable[..., PciHarness]) -> None:
    harness = pci(gateway_latency=0.2)  # the second delivery arrives while the charge runs
    session = harness.create()
    transport = RecordingTransport(
        harness.app,
        concurrent=True,
        repeat=lambda url, params: "/turn/" in url and params.get("Digits") == "1",
    )
    call = harness.pay(session, card(), transport=transport)

    confirm = call.turn("confirm")
    assert confirm.duplicate == (200, confirm.body)
    assert_success(harness.view(session["session_id"]), "visa", VISA)
    assert harness.charges() == 1
    assert len(harness.bridge.ledger.attempts(session["session_id"])) == 1


class UnreachableGateway:
    """A gateway whose charge raises (network down, timeout, bug in its client)."""

    name = "unreachable"

    def __init__(self) -> None:
        self.calls = 0

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
        self.calls += 1
        raise ConnectionError("gateway unreachable")


def test_gateway_failure_apologises_hangs_up_and_is_a_gateway_error(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = UnreachableGateway()
    app = keyed_bridge_app(
        BridgeConfig(database_url=f"sqlite:///{tmp_path}/gw.sqlite3"), clock=clock, gateway=gateway
    )
    harness = PciHarness(app, clock)
    try:
        session = harness.create()
        call = harness.pay(session, card())  # every answer is 200 and valid TwiML

        call.assert_hung_up_by_bridge()
        assert gateway.calls == 1
        assert "sorry" in " ".join(call.last.leads).lower()
        assert not any(VISA in r.getMessage() or VISA in (r.exc_text or "") for r in caplog.records)
        harness.assert_no_card_data(session["session_id"], VISA)
        view = harness.view(session["session_id"])
        # the bridge hung up, not the caller: not "abandoned" (contract: caller hung up)
        assert view["state"] == "failed", view
        assert view["result"]["outcome"] == "gateway_error"
    finally:
        harness.bridge.close()


def test_expired_session_takes_no_leg(pci: Callable[..., PciHarness], clock: Clock) -> None:
    harness = pci()
    session = harness.create()
    clock.advance(seconds=harness.bridge.config.session_ttl + 1)
    call = harness.pay(session, card())
    call.assert_hung_up_by_bridge()
    assert len(call.docs) == 1 and "sorry" in call.heard[0].lower()
    assert harness.view(session["session_id"])["state"] == "expired"


def test_next_session_for_the_same_caller_gets_its_own_leg(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    first = harness.create()
    harness.pay(first, [*card("4000000000000002"), "2"])
    before = harness.view(first["session_id"])
    second = harness.create(amount="10.00")
    assert second["clid"] == CALLER  # freed when the first ended
    call = harness.pay(second, card())
    assert "£10" in " ".join(call.docs[0].leads)
    assert harness.view(second["session_id"])["state"] == "completed"
    assert harness.view(first["session_id"]) == before


# --- legs that are refused -------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["+447700900999", ""], ids=["unknown", "withheld"])
def test_unknown_clid_hears_an_apology_and_is_hung_up(
    pci: Callable[..., PciHarness], caller: str
) -> None:
    harness = pci()
    session = harness.create()
    call = harness.pay(session, card(), caller=caller)

    call.assert_hung_up_by_bridge()
    assert len(call.docs) == 1
    assert call.heard and "sorry" in call.heard[0].lower()
    assert call.keys.entries == card()  # nothing was asked
    assert harness.view(session["session_id"])["state"] == "created"


def test_second_leg_for_a_session_in_progress_is_refused(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    entries = card()
    second: list[PaidCall] = []

    def keys(prompt: str) -> str | None:
        if not second:
            second.append(harness.pay(session, card()))
        return entries.pop(0) if entries else None

    call = harness.pay(session, [], keys=KeySource(ask=keys))

    refused = second[0]
    refused.assert_hung_up_by_bridge()
    assert len(refused.docs) == 1 and "sorry" in refused.heard[0].lower()
    assert refused.keys.entries == card()
    call.assert_hung_up_by_bridge()
    # the refused leg's own status callback did not abandon the leg in progress
    assert_success(harness.view(session["session_id"]), "visa", VISA)
    assert harness.charges() == 1


def test_a_finished_session_takes_no_second_leg(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    session = harness.create()
    harness.pay(session, card())
    again = harness.pay(session, card())
    again.assert_hung_up_by_bridge()
    assert len(again.docs) == 1
    assert harness.charges() == 1


def test_turn_for_an_unknown_session_hangs_up(pci: Callable[..., PciHarness]) -> None:
    harness = pci()
    response = harness.app.test_client().post(
        "/pci/voice/turn/ps_unknown/1", data={"CallSid": "CA" + "1" * 32, "Digits": "1"}
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert_valid_twiml(body)
    assert read_doc("", body).hangup


# --- signatures ------------------------------------------------------------------------------


def test_signed_requests_only(pci: Callable[..., PciHarness]) -> None:
    harness = pci(auth_token="secret")
    session = harness.create()
    client = harness.app.test_client()
    params = {
        "CallSid": "CA" + "1" * 32,
        "From": session["clid"],
        "To": session["transfer_number"],
        "CallStatus": "ringing",
    }
    for path in (VOICE_URL, f"/pci/voice/turn/{session['session_id']}/1", STATUS_URL):
        assert client.post(path, data=params).status_code == 403, path
        forged = RequestValidator("wrong").compute_signature("http://localhost" + path, params)
        assert (
            client.post(path, data=params, headers={"X-Twilio-Signature": forged}).status_code
            == 403
        ), path
    assert harness.view(session["session_id"])["state"] == "created"

    call = harness.pay(session, card(), auth_token="secret")
    call.assert_hung_up_by_bridge()
    assert_success(harness.view(session["session_id"]), "visa", VISA)


def test_signed_hangup_abandons(pci: Callable[..., PciHarness]) -> None:
    harness = pci(auth_token="secret")
    session = harness.create()
    harness.pay(session, card(), auth_token="secret", hangup_after=2)
    assert harness.view(session["session_id"])["state"] == "abandoned"


# --- Redis: sealed, short-lived card data ----------------------------------------------------


@pytest.fixture
def redis_state(redis_url: str) -> Iterator[RedisState]:
    state = RedisState.from_url(redis_url.rsplit("/", 1)[0] + "/5")
    state.client.flushdb()
    yield state
    state.client.flushdb()
    state.client.close()


def test_redis_card_record_is_sealed_short_lived_and_deleted(
    pci: Callable[..., PciHarness], redis_state: RedisState
) -> None:
    harness = pci(state=redis_state)
    ttl_limit = harness.bridge.config.card_data_ttl
    session = harness.create()
    key = harness.card_key(session["session_id"])
    seen: list[tuple[str, str, int]] = []  # (request's Digits, record, TTL) after each request

    def snapshot(exchange: Exchange) -> None:
        record = redis_state.get(key)
        if record is not None:
            seen.append(
                (exchange.params.get("Digits", ""), record, int(redis_state.client.ttl(key)))
            )

    transport = RecordingTransport(harness.app, after=snapshot)
    call = harness.pay(session, card(), transport=transport)

    call.assert_hung_up_by_bridge()
    assert_success(harness.view(session["session_id"]), "visa", VISA)
    # the record existed while the caller keyed the expiry and code (after the number)
    assert [digits for digits, _, _ in seen] == [VISA, EXPIRY, "123"]
    for _, record, ttl in seen:
        assert 0 < ttl <= ttl_limit
        assert VISA not in record and VISA[-4:] not in record
        assert not LONG_DIGIT_RUN.search(record), record
        fields = json.loads(record)
        for name, sealed in fields.items():
            opened = base64.b64decode(sealed, validate=True)
            assert len(opened) >= 12 + 16  # nonce + tag: ciphertext, not the entry
            assert VISA.encode() not in opened and EXPIRY.encode() not in opened, name
    assert set(json.loads(seen[-1][1])) >= {"number", "expiry", "code"}
    # deleted once the charge was answered; nothing in Redis holds the number
    assert redis_state.client.exists(key) == 0
    harness.assert_no_card_data(session["session_id"], VISA)
    for name in redis_state.client.keys("*"):
        assert VISA.encode() not in (redis_state.client.get(name) or b""), name


def test_redis_hangup_deletes_the_card_record(
    pci: Callable[..., PciHarness], redis_state: RedisState
) -> None:
    harness = pci(state=redis_state)
    session = harness.create()
    harness.pay(session, card(), hangup_after=2)
    assert harness.view(session["session_id"])["state"] == "abandoned"
    assert redis_state.client.exists(harness.card_key(session["session_id"])) == 0
    assert harness.charges() == 0
