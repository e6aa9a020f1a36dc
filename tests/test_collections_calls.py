"""Outbound collections calls (collections.md "Contact"): placed through Twilio's REST API with
the `twilio` library (the simulated REST API over HTTP), answered by `collections_outbound`
through the voice webhooks with `AnsweredBy`, settled from the call records: a person who
pays resolves the case and removes the flag, a promise is kept on the case, voicemail hears
no account detail, no answer and busy are recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from demo.billing import Billing
from ivr.app.settings import Settings
from ivr.app.web import create_app
from ivr.collections.cases import CaseState
from ivr.phone.rest import Answer, TwilioRestSimulator
from ivr.phone.transport import FlaskTransport
from ivr.phone.twilio import SimClock, TwilioSimulator
from tests.conftest import ROOT, Clock
from tests.test_collections_intake import campaign_csv

ACCOUNT = "AC" + "2" * 32
TOKEN = "twilio-token-fedcba9876543210"
PUBLIC = "https://ivr.example.com"
CALL_US = "+442071230199"


def customer(n: int, card: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"C{n:04d}",
        "number": f"2000{n:04d}",
        "name": f"Customer {n}",
        "phones": [f"+4477009{n:05d}"],
        "postcode": "SW1A 1AA",  # verification digits "11"
        "date_of_birth": "1980-01-31",
        "bills": [{"id": f"B-{n}", "period": "October 2026", "due_date": "2026-11-15",
                   "status": "open", "amount": f"{10 + n}.25"}],
    }  # fmt: skip
    if card:
        doc["card"] = {"token": f"tok_c{n:04d}", "brand": "visa", "last4": "4242",
                       "exp_month": 12, "exp_year": 2030}  # fmt: skip
    return doc


class FollowedClock(SimClock):
    def __init__(self, clock: Clock):
        self.clock = clock

    def __call__(self) -> datetime:
        return self.clock()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)


@dataclass
class Campaign:
    app: Flask
    rest: TwilioRestSimulator
    voice: TwilioSimulator
    settings: Settings

    @property
    def collections(self) -> Any:
        return self.app.extensions["ivr"].collections

    def flags(self) -> dict[str, bool]:
        service = Billing.from_file(database_url=str(self.settings.demo_billing_database))
        try:
            return {a["number"]: bool(a.get("collections_flag")) for a in service.accounts}
        finally:
            service.close()


@pytest.fixture
def campaign(tmp_path: Path, service_keys_env: None, clock: Clock) -> Iterator[Campaign]:
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    billing_db = f"sqlite:///{tmp_path}/billing.sqlite3"
    service = Billing.from_file(database_url=billing_db)
    service.store.seed([customer(n) for n in range(1, 6)])
    service.close()
    rest = TwilioRestSimulator(ACCOUNT, TOKEN, clock=clock)
    server = make_server("127.0.0.1", 0, rest.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(
        callplans=ROOT / "callplans",
        database_url=f"sqlite:///{tmp_path}/ivr.sqlite3",
        pci={"database_url": f"sqlite:///{tmp_path}/pci.sqlite3"},
        demo_billing=True,
        demo_billing_database=billing_db,
        auth_token=TOKEN,
        account_sid=ACCOUNT,
        public_url=PUBLIC,
        twilio_api_url=f"http://127.0.0.1:{server.server_port}",
        watch_plans=False,
        collections={
            "call_number": CALL_US,
            "interval": 3600,  # the test runs the periodic work itself
            "campaigns": {"default": {"channels": ["call"], "attempts": 2, "gap_hours": 24}},
        },
    )
    app = create_app(settings, clock=clock)
    voice = TwilioSimulator(
        FlaskTransport(app),
        auth_token=TOKEN,
        sign_base=PUBLIC,
        account_sid=ACCOUNT,
        clock=FollowedClock(clock),
    )
    yield Campaign(app, rest, voice, settings)
    app.extensions["ivr"].stop_background()
    server.shutdown()


PAYS_WITH_CARD_ON_FILE = ("1", "11#", "1", "1", "2")  # me; postcode; pay total; card; done
PROMISES = ("1", "11#", "4", "1012", "11*25#", "1")  # promise 11.25 on 10 December


def test_calls_are_placed_answered_and_settled_into_the_cases(campaign: Campaign) -> None:
    collections = campaign.collections
    collections.intake.take(campaign_csv(count=5).encode(), "calls.csv")
    rest = campaign.rest
    rest.answers("+447700900001", Answer("human", PAYS_WITH_CARD_ON_FILE))
    rest.answers("+447700900002", Answer("human", PROMISES))
    rest.answers("+447700900003", Answer("machine"))
    rest.answers("+447700900004", Answer("busy"))
    # +447700900005 never answers
    collections.tick()
    placed = {c.call.to: c.call for c in rest.pending()}
    assert len(placed) == 5
    first = placed["+447700900001"]
    assert first.url.startswith(f"{PUBLIC}/voice/outbound?campaign=default&case=")
    assert first.status_callback == f"{PUBLIC}/voice/status"
    assert first.machine_detection == "Enable" and first.from_ == CALL_US
    ran = {c.call.to: c for c in rest.run_calls(campaign.voice)}
    assert ran["+447700900004"].result is not None
    paid_call = ran["+447700900001"].result
    assert paid_call is not None
    heard = " ".join(paid_call.heard())
    assert "your account" in heard and "£11.25" in heard and "confirmation code" in heard
    # the voicemail says who called and the number, nothing of the account
    machine = " ".join(e.text for e in ran["+447700900003"].result.events if e.kind == "say")
    assert CALL_US[1:] not in machine  # spoken as digits
    assert "Example Telecom" in machine and "11.25" not in machine and "Customer" not in machine
    collections.tick()  # settles the calls from their records
    cases = {c.account: c for c in collections.cases.cases()}
    assert cases["20000001"].state is CaseState.RESOLVED
    assert not cases["20000001"].flagged
    assert cases["20000002"].state is CaseState.PROMISED
    assert cases["20000003"].state is CaseState.CONTACTING
    results = {
        account: [(k.channel, k.result) for k in collections.cases.contacts(case.id)]
        for account, case in cases.items()
    }
    assert results == {
        "20000001": [("call", "answered")],
        "20000002": [("call", "answered")],
        "20000003": [("call", "voicemail")],
        "20000004": [("call", "busy")],
        "20000005": [("call", "no_answer")],
    }
    flags = campaign.flags()
    assert not flags["20000001"] and flags["20000002"] and flags["20000005"]
    causes = [e.cause for e in collections.cases.events(cases["20000001"].id)]
    assert any(c.startswith("PaymentTaken on call CA") for c in causes)
    assert causes[-2:] == ["paid in full", "collections flag removed in billing"]


def test_an_outbound_call_for_a_case_not_being_contacted_is_ended(campaign: Campaign) -> None:
    client = campaign.app.test_client()
    answer = client.post(
        "/voice/outbound?campaign=default&case=999",
        data={"CallSid": "CA" + "9" * 32, "To": "+447700900001", "From": CALL_US},
    )
    assert answer.status_code == 403  # not signed by Twilio: refused before anything else
    from twilio.request_validator import RequestValidator

    url = f"{PUBLIC}/voice/outbound?campaign=default&case=999"
    form = {"CallSid": "CA" + "9" * 32, "To": "+447700900001", "From": CALL_US}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    answer = client.post(
        "/voice/outbound?campaign=default&case=999",
        data=form,
        headers={"X-Twilio-Signature": signature},
        base_url=PUBLIC,
    )
    assert answer.status_code == 200
    assert b"<Hangup" in answer.data and b"<Say" not in answer.data
