"""Redis dies just after a charge, under gunicorn with two workers: the caller was charged on the
bridge's leg and the engine can no longer reach the call's session. The payment still reaches
billing exactly once (the outbox lives in the ledger's SQL, not Redis), the caller is never
left in silence or an application error (an apology and the emergency agent line), the call is
still recorded from its status callback, and once Redis is back the next call is served."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import redis
import requests
import yaml
from twilio.request_validator import RequestValidator

from ivr.app.settings import Destination
from ivr.app.system import with_bridge_numbers
from ivr.phone.transport import HttpTransport
from ivr.phone.twilio import Event, KeySource, TwilioSimulator
from tests.conftest import ROOT, LoopbackServer, Reply, Seen, free_port
from tests.test_auth_http import Server

SAM = "+447700900123"
AGENT = "+442071230200"
EMERGENCY = "+442071230911"
BILLING = "billing-token-0123456789abcdef"
TOKEN = "twilio-auth-token-for-fault-tests"
ACCOUNT = "AC" + "e5" * 16
SMS_FROM = "+442071230555"
KEYS = ["11#", "1", "2", "4242424242424242#", "1230", "123", "1", "2"]


class PrivateRedis:
    """A redis-server of the test's own, to kill and start again on the same port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/setup.sh installs it)"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.ConnectionError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def payments(database: Path) -> list[tuple[str, str]]:
    """(confirmation code, PCI session id) of each payment billing has."""
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT doc FROM demo_billing_records WHERE kind = 'payment'")
        return [
            (json.loads(doc)["confirmation_code"], json.loads(doc)["pci_session_id"])
            for (doc,) in rows
        ]


def records(database: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT call_sid, outcome FROM call_records").fetchall()


def test_redis_killed_just_after_a_charge(
    tmp_path: Path, private_redis: PrivateRedis, http_server: LoopbackServer
) -> None:
    texts: list[dict[str, str]] = []

    def messages_api(seen: Seen) -> Reply:  # Twilio's Messages API, on loopback
        texts.append(dict(parse_qsl(seen.body.decode())))
        return 201, {"Content-Type": "application/json"}, '{"sid": "SM' + "0" * 32 + '"}'

    http_server.handle("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", messages_api)
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "callplans": str(ROOT / "callplans"),
                "store": private_redis.url,
                "watch_plans": False,
                "database": f"sqlite:///{tmp_path}/calls.sqlite3",
                "demo_billing": True,
                "demo_billing_database": f"sqlite:///{tmp_path}/billing.sqlite3",
                "emergency_number": EMERGENCY,
                "self_url": f"http://127.0.0.1:{port}",
                "sms_from": SMS_FROM,
                "twilio_api_url": http_server.url,
                "account_sid": ACCOUNT,
                "data": {
                    "BillingUrl": f"http://127.0.0.1:{port}/demo/billing",
                    "PciUrl": f"http://127.0.0.1:{port}/pci/v1",
                },
                "pci": {
                    "database_url": f"sqlite:///{tmp_path}/pci.sqlite3",
                    "result_webhook": f"http://127.0.0.1:{port}/demo/billing/payment-results",
                    "outbox_interval": 1,
                },
            }
        ),
        encoding="utf-8",
    )
    fleet = Server("gunicorn", config, tmp_path / "server.log")
    fleet.port, fleet.url = port, f"http://127.0.0.1:{port}"
    fleet.start(
        PCI_API_KEYS="fault-key-0123456789abcdef",
        BILLING_TOKEN=BILLING,
        TWILIO_AUTH_TOKEN=TOKEN,
        PCI_WEBHOOK_SECRET="fault-webhook-secret-0123456789",
        PCI_DATA_KEY=base64.b64encode(os.urandom(32)).decode(),
    )
    try:
        statuses: list[int] = []
        transport = HttpTransport(fleet.url)
        inner_post = transport.post

        def post(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
            status, body = inner_post(url, params, headers)
            statuses.append(status)
            return status, body

        transport.post = post  # type: ignore[method-assign]

        def kill_after_the_charge(event: Event) -> None:
            if event.kind == "say" and "was successful" in event.text:
                private_redis.kill()

        directory = with_bridge_numbers(
            {AGENT: Destination(), EMERGENCY: Destination()}, ("+442079460001",)
        )
        simulator = TwilioSimulator(
            transport,
            directory=directory,
            auth_token=TOKEN,
            account_sid=ACCOUNT,
            on_event=kill_after_the_charge,
        )
        result = simulator.call("+442071230001", SAM, KeySource(list(KEYS)))
        heard = result.heard()
        said = " ".join(heard)
        assert "Your payment of £72.50 was successful" in said  # on the bridge's leg
        assert private_redis.proc is None, "Redis was not killed"
        # the engine could not go on: an apology and the emergency agent line, never a 5xx
        assert all(status < 500 for status in statuses), statuses
        assert "technical difficulties" in said and "Transferring you to an agent" in said
        assert any(e.kind == "dial" and EMERGENCY in e.text for e in result.events)

        # the charge reaches billing once, through the outbox, with Redis still down
        deadline = time.monotonic() + 15
        while not payments(tmp_path / "billing.sqlite3") and time.monotonic() < deadline:
            time.sleep(0.2)
        [(code, _)] = payments(tmp_path / "billing.sqlite3")
        assert code.replace(" ", "") in said.replace(" ", "")
        # and the call is on record, from its status callback: charged, not confirmed by the
        # engine, and the caller is texted a receipt (no card data in it)
        assert (result.call_sid, "ChargedNotConfirmed") in records(tmp_path / "calls.sqlite3")
        [text] = texts
        assert (text["To"], text["From"]) == (SAM, SMS_FROM)
        assert text["Body"] == (
            f"Example Telecom: your payment of £72.50 was taken. "
            f"Confirmation code {code}. Please do not pay again."
        )
        assert "4242" not in text["Body"] and "1230" not in text["Body"]

        # while Redis is down every worker says so on /ready (the load balancer's probe)
        for _ in range(4):
            ready = requests.get(fleet.url + "/ready", timeout=10)
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            bridge = checks.get("bridge_state", checks.get("bridge"))  # "bridge": no answer in time
            assert checks["store"] != "ok" and bridge not in ("ok", None), checks
            assert requests.get(fleet.url + "/health", timeout=10).status_code == 200

        # Redis back: /ready is 200 again and the next call is served normally
        private_redis.start()
        deadline = time.monotonic() + 10
        while requests.get(fleet.url + "/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "/ready did not recover with Redis"
            time.sleep(0.2)
        form = {
            "CallSid": "CA" + "c3" * 16,
            "From": SAM,
            "To": "+442071230001",
            "CallStatus": "ringing",
        }
        signature = RequestValidator(TOKEN).compute_signature(fleet.url + "/voice", form)
        answer = requests.post(
            fleet.url + "/voice", data=form, timeout=15, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 200 and "Welcome to Example Telecom" in answer.text
        log = fleet.log.read_text()
        assert "WORKER TIMEOUT" not in log
        # the outage is said once per worker at most, not a traceback per webhook
        assert log.count("the session store is unavailable") <= 2, log[-4000:]
    finally:
        fleet.stop()
