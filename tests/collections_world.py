"""An outbound collections campaign as production runs it, for the collections tests: the
serving app (Redis-free embedded store, SQLite, the embedded PCI bridge and demo billing with
five customers), the simulated Twilio REST API over real HTTP, and the simulator that plays
Twilio's side of each call. The `campaign` fixture (tests/conftest.py) builds one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from demo.billing import Billing
from ivr.app.settings import Settings
from ivr.app.web import create_app
from ivr.phone.rest import TwilioRestSimulator
from ivr.phone.transport import FlaskTransport
from ivr.phone.twilio import SimClock, TwilioSimulator

ROOT = Path(__file__).resolve().parent.parent


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
    def __init__(self, clock: Any):
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


def seeded_billing(folder: Path, accounts: list[dict[str, Any]]) -> str:
    """A demo billing database in `folder` that also knows `accounts`; its URL."""
    url = f"sqlite:///{folder}/billing.sqlite3"
    service = Billing.from_file(database_url=url)
    service.store.seed(accounts)
    service.close()
    return url


def build_campaign(tmp_path: Path, clock: Any) -> Iterator[Campaign]:
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    billing_db = seeded_billing(tmp_path, [customer(n) for n in range(1, 6)])
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
            "sms_from": "+442071230555",  # receipts for scheduled payments
            "interval": 3600,  # the test runs the periodic work itself
            "campaigns": {"default": {"channels": ["call"], "attempts": 2, "gap_hours": 24}},
        },
    )
    app = create_app(settings, clock=clock)
    app.extensions["ivr"].stop_collections_work()  # the tests run the periodic work themselves
    voice = TwilioSimulator(
        FlaskTransport(app),
        directory=app.extensions["ivr"].directory,  # the bridge's numbers, for payment legs
        auth_token=TOKEN,
        sign_base=PUBLIC,
        account_sid=ACCOUNT,
        clock=FollowedClock(clock),
    )
    yield Campaign(app, rest, voice, settings)
    app.extensions["ivr"].stop_background()
    server.shutdown()
