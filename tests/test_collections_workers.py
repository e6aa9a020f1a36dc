"""Collections jobs on two `ivr worker` processes over a real Redis, on real time (collections.md
"Jobs"): a file dropped in the inbox becomes cases, one notice per customer and channel and one
outbound call each, answered over HTTP by scripted customers (pay, promise, a plan, decline,
no answer) and settled into the cases; scheduled payments due seconds apart are each charged
once, with one receipt, and resolve their plans; nothing is done twice whatever the workers."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from ivr.app.settings import Settings
from ivr.app.web import create_app
from ivr.collections.cases import Cases, CaseState
from ivr.collections.plans import PaymentState, Plans, PlanState
from ivr.collections.tables import collections_payments
from ivr.phone.rest import Answer, TwilioRestSimulator
from ivr.phone.transport import HttpTransport
from ivr.phone.twilio import TwilioSimulator
from pci_bridge.ledger import sessions
from tests.collections_world import customer, seeded_billing
from tests.conftest import BILLING_KEY, COLLECTIONS_KEY, PCI_KEY, ROOT, free_port
from tests.test_collections_intake import campaign_csv

ACCOUNT = "AC" + "3" * 32
TOKEN = "twilio-token-for-worker-tests-0123"
CUSTOMERS = 8


class Mailbox:
    def __init__(self) -> None:
        self.to: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.to.append(str(message["To"]))
        return "250 OK"


def wait_for(what: str, check: Callable[[], bool], seconds: float = 45) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The serving app over HTTP, a simulated Twilio REST API, an SMTP server, and two
    `ivr worker` processes, all on one Redis and one set of SQLite files."""
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PCI_API_KEYS": PCI_KEY,
        "PCI_API_KEY": PCI_KEY,
        "BILLING_TOKEN": BILLING_KEY,
        "COLLECTIONS_API_KEY": COLLECTIONS_KEY,
        "PCI_WEBHOOK_SECRET": "w" * 32,
        "IVR_SECRET_KEY": "s" * 32,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    billing_db = seeded_billing(tmp_path, [customer(n) for n in range(1, CUSTOMERS + 1)])
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
        "  campaigns:\n"
        "    default: {channels: [sms, email, call], attempts: 1, gap_hours: 1000, "
        'calling_hours: "00:00-23:59"}\n',
        encoding="utf-8",
    )
    app = create_app(Settings.load(config))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "ivr.tools.cli", "worker", "--config", str(config)],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        yield {"app": app, "rest": rest, "mailbox": mailbox, "inbox": inbox, "port": port,
               "database": f"sqlite:///{tmp_path}/ivr.sqlite3", "workers": workers}  # fmt: skip
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                out, _ = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            assert "Traceback" not in out, out
        server.shutdown()
        rest_server.shutdown()
        smtp.stop()
        app.extensions["ivr"].stop_background()


def test_two_workers_take_a_file_notify_once_and_charge_each_payment_once(fleet: Any) -> None:
    inbox: Path = fleet["inbox"]
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "arrears.csv").write_text(campaign_csv(count=CUSTOMERS), encoding="utf-8")
    cases = Cases(fleet["database"])
    try:
        rest: TwilioRestSimulator = fleet["rest"]
        mailbox: Mailbox = fleet["mailbox"]
        wait_for("the notices", lambda: len(rest.messages) >= CUSTOMERS
                 and len(mailbox.to) >= CUSTOMERS)  # fmt: skip
        time.sleep(3)  # several more ticks on both workers: nothing is sent again
        numbers = [m.to for m in rest.messages]
        assert sorted(numbers) == sorted(f"+4477009{n:05d}" for n in range(1, CUSTOMERS + 1))
        assert sorted(mailbox.to) == sorted(f"c{n}@example.com" for n in range(1, CUSTOMERS + 1))
        assert (inbox / "processed" / "arrears.csv").exists()
        assert all(c.state is CaseState.CONTACTING and c.flagged for c in cases.cases())

        # the calls: answered over HTTP through the serving app's webhooks, as Twilio would
        wait_for("the calls", lambda: len(rest.calls) >= CUSTOMERS)
        base = f"http://127.0.0.1:{fleet['port']}"
        voice = TwilioSimulator(
            HttpTransport(base),
            directory=fleet["app"].extensions["ivr"].directory,
            auth_token=TOKEN,
            sign_base=base,
            account_sid=ACCOUNT,
        )
        scripts = {
            1: Answer("human", ("1", "11#", "1", "1", "2")),  # pays with the card on file
            2: Answer(
                "human",
                ("1", "11#", "2", f"{datetime.now(UTC) + timedelta(days=7):%d%m}", "12*25#", "1"),
            ),  # promises  # fmt: skip
            3: Answer("human", ("1", "11#", "3", "2", "4242424242424242#", "1230", "123", "1")),
            4: Answer("human", ("2",)),  # declines
        }
        for n, answer in scripts.items():
            rest.answers(f"+4477009{n:05d}", answer)
        rest.run_calls(voice)
        assert len(rest.calls) == CUSTOMERS  # one call each, whatever the workers
        wait_for("the calls to be settled", lambda: not cases.placed_calls())
        states = {c.account: c.state for c in cases.cases()}
        assert states["20000001"] is CaseState.RESOLVED
        assert states["20000002"] is CaseState.PROMISED
        assert states["20000003"] is CaseState.PLAN_SCHEDULED
        assert states["20000004"] is CaseState.CONTACTING
        results = sorted(k.result for c in cases.cases() for k in cases.contacts(c.id)
                         if k.channel == "call")  # fmt: skip
        assert results == sorted(["answered"] * 4 + ["no_answer"] * (CUSTOMERS - 4))

        # three customers agreed plans of three; payments 2 and 3 fall due seconds apart
        bridge = fleet["app"].extensions["ivr"].bridge
        token = bridge.gateway.mint_token(brand="visa", last4="4242", exp_month=12, exp_year=2030)
        plans = Plans(cases.db, cases.clock)
        made = []
        now = datetime.now(UTC)
        for case in [c for c in cases.cases() if c.state is CaseState.CONTACTING][:3]:
            plan = plans.create(case, 3, now.date())
            plans.start(plan.id, token, f"first-{plan.id}", "00000000")
            cases.move(case.id, CaseState.PLAN_SCHEDULED, "plan agreed (test)")
            for payment, seconds in zip(plan.instalments[1:], (2, 4), strict=True):
                with cases.db.begin() as conn:
                    conn.execute(
                        update(collections_payments)
                        .where(collections_payments.c.id == payment.id)
                        .values(next_try_at=now + timedelta(seconds=seconds))
                    )
            made.append(plan.id)
        wait_for(
            "the plans to be paid",
            lambda: all(plans.get(p).state is PlanState.RESOLVED for p in made),
        )
        time.sleep(2)
        for plan_id in made:
            plan = plans.get(plan_id)
            assert [p.state for p in plan.instalments] == [PaymentState.TAKEN] * 3
            assert [p.attempts for p in plan.instalments] == [1, 1, 1]
            case = cases.get(plan.case_id)
            assert case.state is CaseState.RESOLVED and not case.flagged
        with bridge.ledger.db.connect() as conn:
            charged = conn.execute(
                select(func.count()).where(sessions.c.reference.like("%/plan-%/%"))
            ).scalar_one()
        assert charged == 6  # two scheduled payments for each of three plans, once each
        receipts = [m.to for m in rest.messages if "we took payment" in m.body]
        assert len(receipts) == 6 and len(set(receipts)) == 3
    finally:
        cases.close()
