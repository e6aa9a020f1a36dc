"""Money under faults, over real HTTP against gunicorn (two workers, Redis): a billing service
of its own (a stand-in on loopback) whose payment post hangs or fails after the charge, and a
gateway slower than a turn. In every case the charge reaches billing exactly once (the
bridge's outbox, then the plan's own post as a confirmation of the same payment), and the
caller hears the truth."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import redis
import requests
import yaml
from flask import Flask, Response, request
from werkzeug.serving import make_server

from demo.billing import Billing, register
from ivr.app.settings import Destination
from ivr.app.system import with_bridge_numbers
from ivr.phone.transport import HttpTransport
from ivr.phone.twilio import KeySource, TwilioSimulator
from pci_bridge.gateway import SimulatedGateway
from pci_bridge.ledger import Ledger
from tests.conftest import ROOT, LoopbackServer, Reply, Seen, free_port
from tests.test_auth_http import Server

SAM = "+447700900123"
TOKEN = "stand-in-billing-token-0123456789"
HOOK = "stand-in-webhook-secret-0123456789"
TWILIO = "twilio-token-for-billing-faults"
ACCOUNT = "AC" + "a7" * 16
SMS_FROM = "+442071230555"
NEW_CARD = ["11#", "1", "2", "4242424242424242#", "1230", "123", "1", "2"]
CARD_ON_FILE = ["11#", "1", "1"]


class StandIn:
    """The demo billing service on a port of its own, whose payment post can hang or fail."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.app = Flask("billing-stand-in")
        self.billing = register(self.app, Billing.from_file(), token=TOKEN, webhook_secret=HOOK)
        self.app.before_request(self._fault)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/demo/billing"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _fault(self) -> Response | None:
        if request.method == "POST" and request.path.endswith("/payments"):
            if self.mode == "hang":
                time.sleep(20)  # longer than any turn: the plan gives up
            elif self.mode == "fail":
                return Response('{"error": "ledger locked"}', 500, mimetype="application/json")
        return None

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    service = StandIn()
    yield service
    service.close()


def fleet(
    tmp_path: Path,
    redis_url: str,
    billing: StandIn,
    settings: dict[str, Any] | None = None,
    **pci: Any,
) -> Server:
    redis.Redis.from_url(redis_url).flushdb()
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "callplans": str(ROOT / "callplans"),
                "store": redis_url,
                "watch_plans": False,
                "database": f"sqlite:///{tmp_path}/calls.sqlite3",
                "self_url": f"http://127.0.0.1:{port}",
                "data": {"BillingUrl": billing.url, "PciUrl": f"http://127.0.0.1:{port}/pci/v1"},
                "pci": {
                    "database_url": f"sqlite:///{tmp_path}/pci.sqlite3",
                    "result_webhook": billing.url + "/payment-results",
                    "outbox_interval": 1,
                    **pci,
                },
                **(settings or {}),
            }
        ),
        encoding="utf-8",
    )
    server = Server("gunicorn", config, tmp_path / "server.log")
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.start(
        PCI_API_KEYS="billing-fault-key-0123456789",
        BILLING_TOKEN=TOKEN,
        PCI_WEBHOOK_SECRET=HOOK,
        PCI_DATA_KEY=base64.b64encode(os.urandom(32)).decode(),
        TWILIO_AUTH_TOKEN=TWILIO,
    )
    return server


def call(server: Server, keys: list[str]) -> str:
    directory = with_bridge_numbers({"+442071230200": Destination()}, ("+442079460001",))
    simulator = TwilioSimulator(
        HttpTransport(server.url, timeout=20),
        directory=directory,
        auth_token=TWILIO,
        account_sid=ACCOUNT,
    )
    return " ".join(simulator.call("+442071230001", SAM, KeySource(list(keys))).heard())


def posted(billing: StandIn, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while not billing.billing.payments and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # time for a second, wrong, post to arrive if there were one
    return billing.billing.payments


@pytest.mark.parametrize("mode", ["hang", "fail"])
def test_the_billing_post_hangs_or_fails_after_the_charge(
    tmp_path: Path, redis_url: str, stand_in: StandIn, mode: str
) -> None:
    server = fleet(tmp_path, redis_url, stand_in)
    try:
        stand_in.mode = mode
        started = time.monotonic()
        heard = call(server, NEW_CARD)
        assert time.monotonic() - started < 30
        assert "Your payment of £72.50 was successful" in heard  # the bridge's leg
        # the bridge said the code; the plan offers it again
        assert "To hear your code again, press 1." in heard
        code = heard.split("was successful. Your confirmation code is ")[1].split(".")[0]
        [payment] = posted(stand_in)  # through the outbox, once
        assert payment["confirmation_code"] == code.replace(" ", "")
        assert payment["amount"] == "72.50"
        assert "WORKER TIMEOUT" not in server.log.read_text()
        # a plan's web service is not the process's dependency: with it still hanging or
        # failing, the workers stay in rotation (the plans route callers around it)
        ready = requests.get(server.url + "/ready", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        server.stop()


def test_a_stored_card_charge_slower_than_a_turn(
    tmp_path: Path, redis_url: str, stand_in: StandIn, http_server: LoopbackServer
) -> None:
    """The gateway takes 9 s (a turn may take 12): the bridge answers the plan after 5 s with
    the charge going on; the caller holds, is told it is still being processed and not to pay
    again (never that nothing was taken), billing gets the payment when it completes, and the
    caller is texted a receipt then."""
    texts: list[dict[str, str]] = []

    def messages_api(seen: Seen) -> Reply:  # Twilio's Messages API, on loopback
        texts.append(dict(parse_qsl(seen.body.decode())))
        return 201, {"Content-Type": "application/json"}, '{"sid": "SM' + "1" * 32 + '"}'

    http_server.handle("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", messages_api)
    ledger = Ledger(f"sqlite:///{tmp_path}/pci.sqlite3")  # the gateway knows Sam's card
    SimulatedGateway(ledger).ensure_token(
        "tok_demo_sam_visa", brand="visa", last4="4242", exp_month=12, exp_year=2030
    )
    ledger.close()
    server = fleet(
        tmp_path,
        redis_url,
        stand_in,
        {"sms_from": SMS_FROM, "twilio_api_url": http_server.url, "account_sid": ACCOUNT},
        gateway_latency=9,
    )
    try:
        started = time.monotonic()
        heard = call(server, CARD_ON_FILE)
        assert "Please hold while we take your payment" in heard
        assert "Your payment is still being processed. Please do not pay again" in heard
        assert "No money has been taken" not in heard and "has been taken" not in heard
        assert time.monotonic() - started < 9 + 5
        [payment] = posted(stand_in)
        assert payment["amount"] == "72.50"
        [text] = texts
        assert (text["To"], text["From"]) == (SAM, SMS_FROM)
        assert text["Body"] == (
            f"Example Telecom: your payment of £72.50 was taken. "
            f"Confirmation code {payment['confirmation_code']}. "
            "Please do not pay again."
        )
    finally:
        server.stop()
