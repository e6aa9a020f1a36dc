"""Collections as production runs them, for the worker tests: the serving app over HTTP, a
simulated Twilio REST API, a local SMTP server, and two `ivr worker` processes, all on one real
Redis and one set of SQLite files, on real time (`Fleet.start`)."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from aiosmtpd.controller import Controller
from flask import Flask
from werkzeug.serving import make_server

from ivr.app.settings import Settings
from ivr.app.web import create_app
from ivr.phone.rest import TwilioRestSimulator
from ivr.phone.transport import HttpTransport
from ivr.phone.twilio import TwilioSimulator
from tests.collections_world import seeded_billing
from tests.conftest import BILLING_KEY, COLLECTIONS_KEY, PCI_KEY, ROOT, free_port

ACCOUNT = "AC" + "3" * 32
TOKEN = "twilio-token-for-worker-tests-0123"
ENV = {
    "TWILIO_AUTH_TOKEN": TOKEN,
    "PCI_API_KEYS": PCI_KEY,
    "PCI_API_KEY": PCI_KEY,
    "BILLING_TOKEN": BILLING_KEY,
    "COLLECTIONS_API_KEY": COLLECTIONS_KEY,
    "PCI_WEBHOOK_SECRET": "w" * 32,
    "IVR_SECRET_KEY": "s" * 32,
}
# one round of text, email and call, in any hours (a campaign's `collections.campaigns`)
ONE_ROUND = (
    "    default: {channels: [sms, email, call], attempts: 1, gap_hours: 1000, "
    'calling_hours: "00:00-23:59"}\n'
)


class Mailbox:
    def __init__(self) -> None:
        self.to: list[str] = []
        self.bodies: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.to.append(str(message["To"]))
        self.bodies.append(message.as_string())
        return "250 OK"


def wait_for(what: str, check: Callable[[], bool], seconds: float = 45) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Fleet:
    app: Flask
    rest: TwilioRestSimulator
    mailbox: Mailbox
    inbox: Path
    port: int
    database: str
    workers: list[subprocess.Popen[str]]

    def voice(self) -> TwilioSimulator:
        """Twilio's side of the calls, over HTTP to the serving app."""
        base = f"http://127.0.0.1:{self.port}"
        return TwilioSimulator(
            HttpTransport(base),
            directory=self.app.extensions["ivr"].directory,
            auth_token=TOKEN,
            sign_base=base,
            account_sid=ACCOUNT,
        )


@contextmanager
def running_fleet(
    tmp_path: Path,
    redis_url: str,
    accounts: list[dict[str, Any]],
    campaigns: str = ONE_ROUND,
    plans: str = "",
) -> Iterator[Fleet]:
    """The fleet for the demo billing `accounts`, with `campaigns` (and `plans`) as YAML lines
    of the collections section; the environment gets the keys (ENV) for the duration."""
    redis.Redis.from_url(redis_url).flushdb()
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    billing_db = seeded_billing(tmp_path, accounts)
    rest = TwilioRestSimulator(ACCOUNT, TOKEN)
    rest_server = make_server("127.0.0.1", 0, rest.app, threaded=True)
    threading.Thread(target=rest_server.serve_forever, daemon=True).start()
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    port = free_port()
    inbox = tmp_path / "inbox"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"callplans: {ROOT / 'callplans'}\n"
        f"store: {redis_url}\n"
        f"database: sqlite:///{tmp_path}/ivr.sqlite3\n"
        f"self_url: http://127.0.0.1:{port}\n"
        f"public_url: http://127.0.0.1:{port}\n"
        f"account_sid: {ACCOUNT}\n"
        f"twilio_api_url: http://127.0.0.1:{rest_server.server_port}\n"
        "watch_plans: false\n"
        f"data: {{BillingUrl: 'http://127.0.0.1:{port}/demo/billing', "
        f"PciUrl: 'http://127.0.0.1:{port}/pci/v1', "
        f"CollectionsUrl: 'http://127.0.0.1:{port}/collections/v1'}}\n"
        "log_level: WARNING\n"
        "demo_billing: true\n"
        f"demo_billing_database: {billing_db}\n"
        f"pci: {{database_url: 'sqlite:///{tmp_path}/pci.sqlite3', result_webhook: null}}\n"
        "collections:\n"
        f"  inbox: {inbox}\n"
        "  interval: 1\n"
        '  call_number: "+442071230199"\n'
        '  sms_from: "+442071230555"\n'
        "  email_from: collections@example.com\n"
        f"  smtp: {{host: 127.0.0.1, port: {smtp_port}}}\n"
        f"{plans}"
        "  campaigns:\n"
        f"{campaigns}",
        encoding="utf-8",
    )
    app = create_app(Settings.load(config))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "ivr.tools.cli", "worker", "--config", str(config)],
            cwd=ROOT,
            env={**os.environ, **ENV, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        yield Fleet(app, rest, mailbox, inbox, port, f"sqlite:///{tmp_path}/ivr.sqlite3", workers)
    finally:
        for proc in workers:
            proc.terminate()
        outputs = []
        for proc in workers:
            try:
                out, _ = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            outputs.append(out)
        server.shutdown()
        rest_server.shutdown()
        smtp.stop()
        app.extensions["ivr"].stop_background()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for out in outputs:
            assert "Traceback" not in out, out
