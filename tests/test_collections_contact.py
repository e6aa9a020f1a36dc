"""Payment-due notices by the campaign's contact policy (collections.md "Contact"): texts through
Twilio's Messages API (the `twilio` library, against the simulated REST API over HTTP) and
email through a real SMTP server (aiosmtpd) on loopback, in the customer's calling hours, each
round sent once whatever the number of workers, every attempt recorded, and a case unreached
after the last round closed."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from ivr.app.collections import Collections, open_collections
from ivr.app.settings import Settings, SettingsError
from ivr.collections.cases import CaseState
from ivr.phone.rest import TwilioRestSimulator
from tests.collections_world import seeded_billing
from tests.conftest import ROOT, Clock, free_port
from tests.test_collections_intake import account_doc, campaign_csv

ACCOUNT = "AC" + "1" * 32
TOKEN = "twilio-token-0123456789abcdef"
CALL_US = "+442071230199"
SMS_FROM = "+442071230555"
CARDS = ("4242424242424242", "4000000000000002", "5555555555554444")


@dataclass
class Mailbox:
    """What the SMTP server received."""

    messages: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:  # fmt: skip
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def twilio(clock: Clock) -> Iterator[tuple[TwilioRestSimulator, str]]:
    simulator = TwilioRestSimulator(ACCOUNT, TOKEN, clock=clock)
    server = make_server("127.0.0.1", 0, simulator.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield simulator, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def settings_for(
    tmp_path: Path, smtp_port: int, twilio_url: str, campaign: dict[str, Any] | None = None
) -> Settings:
    billing_db = seeded_billing(tmp_path, [account_doc(n) for n in range(1, 51)])
    return Settings(
        callplans=ROOT / "callplans",
        database_url=f"sqlite:///{tmp_path}/ivr.sqlite3",
        demo_billing=True,
        demo_billing_database=billing_db,
        auth_token=TOKEN,
        account_sid=ACCOUNT,
        twilio_api_url=twilio_url,
        collections={
            "merchant": "Example Telecom",
            "call_number": CALL_US,
            "sms_from": SMS_FROM,
            "email_from": "collections@example.com",
            "smtp": {"host": "127.0.0.1", "port": smtp_port},
            "campaigns": {
                "default": campaign
                or {
                    "channels": ["sms", "email"],
                    "attempts": 2,
                    "gap_hours": 48,
                    "calling_hours": "09:00-20:00",
                }
            },
        },  # fmt: skip
    )


@pytest.fixture
def campaign(
    tmp_path: Path,
    clock: Clock,
    mailbox: tuple[Mailbox, int],
    twilio: tuple[TwilioRestSimulator, str],
) -> Iterator[Collections]:
    opened = open_collections(settings_for(tmp_path, mailbox[1], twilio[1]), clock=clock)
    yield opened
    opened.close()


def test_a_round_texts_and_emails_each_customer_what_they_owe_and_never_card_data(
    campaign: Collections,
    clock: Clock,
    mailbox: tuple[Mailbox, int],
    twilio: tuple[TwilioRestSimulator, str],
) -> None:
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))  # 10:00 in London
    campaign.intake.take(campaign_csv(count=3).encode(), "arrears.csv")
    assert campaign.contacts is not None
    rounds = campaign.contacts.run_due()
    assert [(r.case.account, r.attempt) for r in rounds] == [
        ("20000001", 1), ("20000002", 1), ("20000003", 1),
    ]  # fmt: skip
    assert all(s.ok for r in rounds for s in r.sent.values()), rounds
    simulator, _ = twilio
    [text] = simulator.sent_to("+447700900001")
    assert text.from_ == SMS_FROM
    assert text.body == (
        "Example Telecom: Customer 1, Esq., your account 20000001 has £11.25 overdue since "
        f"15 November 2026. Pay or set up a plan by phone at {CALL_US}, any time. Questions? "
        "Call us on the same number."
    )
    box, _ = mailbox
    [mail] = box.to("c1@example.com")
    assert mail["Subject"] == "Example Telecom: £11.25 overdue on account 20000001"
    assert mail["From"] == "collections@example.com"
    parts = {p.get_content_type(): p.get_content() for p in mail.walk() if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "£11.25 overdue on your account 20000001, due on 15 November 2026" in parts["text/plain"]
    assert CALL_US in parts["text/plain"]
    assert "<strong>£11.25</strong>" in parts["text/html"]
    assert "Customer 1, Esq." in parts["text/html"]
    everything = " ".join(
        [m.body for m in simulator.messages] + [m.as_string() for m in box.messages]
    )
    assert not any(card in everything for card in CARDS)
    # the case says what happened, and is being contacted
    case = campaign.cases.for_account("20000001")
    assert case is not None and case.state is CaseState.CONTACTING and case.attempts == 1
    assert case.next_contact_at == clock() + timedelta(hours=48)
    assert [(c.attempt, c.channel, c.result) for c in campaign.cases.contacts(case.id)] == [
        (1, "sms", "sent"), (1, "email", "delivered"),  # the text: until Twilio reports
    ]  # fmt: skip
    assert campaign.contacts.run_due() == []  # nothing more is due until the gap has passed


def test_texts_wait_for_the_customers_calling_hours_in_their_time_zone(
    campaign: Collections, clock: Clock, twilio: tuple[TwilioRestSimulator, str]
) -> None:
    clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=UTC))  # 22:30 in London, 17:30 in New York
    rows = campaign_csv(count=2).replace("Europe/London", "America/New_York", 1)
    campaign.intake.take(rows.encode(), "late.csv")
    assert campaign.contacts is not None
    [made] = campaign.contacts.run_due()
    assert made.case.account == "20000001"  # New York: still within its hours
    london = campaign.cases.for_account("20000002")
    assert london is not None and london.state is CaseState.OPEN and london.attempts == 0
    assert london.next_contact_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 09:00 London
    clock.set(datetime(2026, 12, 2, 8, 59, tzinfo=UTC))
    assert campaign.contacts.run_due() == []
    clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    [later] = campaign.contacts.run_due()
    assert later.case.account == "20000002"
    assert len(twilio[0].sent_to("+447700900002")) == 1


def test_failures_are_recorded_and_an_unreached_case_is_closed_after_the_last_round(
    campaign: Collections,
    clock: Clock,
    mailbox: tuple[Mailbox, int],
    twilio: tuple[TwilioRestSimulator, str],
) -> None:
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    twilio[0].undeliverable.add("+447700900001")
    mailbox[0].refuse.add("c1@example.com")
    campaign.intake.take(campaign_csv(count=1).encode(), "one.csv")
    assert campaign.contacts is not None
    campaign.contacts.run_due()
    clock.advance(hours=48)
    campaign.contacts.run_due()
    case = campaign.cases.for_account("20000001")
    assert case is not None
    assert [(c.attempt, c.channel, c.result) for c in campaign.cases.contacts(case.id)] == [
        (1, "sms", "failed"), (1, "email", "failed"), (2, "sms", "failed"), (2, "email", "failed"),
    ]  # fmt: skip
    details = [c.detail for c in campaign.cases.contacts(case.id)]
    assert "Twilio refused it (400, code 21211)" in details[0]
    assert "refused the address" in details[1]
    assert case.state is CaseState.CONTACTING
    clock.advance(hours=48)
    [closing] = campaign.contacts.run_due()
    assert closing.closed
    closed = campaign.cases.get(case.id)
    assert closed.state is CaseState.CLOSED
    cause = campaign.cases.events(case.id)[-1].cause
    assert cause == "unreached after 2 rounds of the default contact policy"
    clock.advance(hours=48)
    assert campaign.contacts.run_due() == []


def test_a_case_that_moved_on_is_not_contacted_again(
    campaign: Collections, clock: Clock, twilio: tuple[TwilioRestSimulator, str]
) -> None:
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    campaign.intake.take(campaign_csv(count=1).encode(), "one.csv")
    assert campaign.contacts is not None
    campaign.contacts.run_due()
    case = campaign.cases.for_account("20000001")
    assert case is not None
    campaign.cases.move(case.id, CaseState.PROMISED, "promised to pay on 2026-12-10")
    clock.advance(days=10)
    assert campaign.contacts.run_due() == []
    assert len(twilio[0].sent_to("+447700900001")) == 1


def test_several_workers_send_each_round_once(
    tmp_path: Path,
    clock: Clock,
    mailbox: tuple[Mailbox, int],
    twilio: tuple[TwilioRestSimulator, str],
) -> None:
    settings = settings_for(tmp_path, mailbox[1], twilio[1])
    workers = [open_collections(settings, clock=clock) for _ in range(3)]
    try:
        clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
        workers[0].intake.take(campaign_csv(count=20).encode(), "twenty.csv")

        def work(w: Collections) -> None:
            assert w.contacts is not None
            w.contacts.run_due()

        for _round in range(2):
            threads = [threading.Thread(target=work, args=(w,)) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            clock.advance(hours=48)
        numbers = [m.to for m in twilio[0].messages]
        assert len(numbers) == 40 and len(set(numbers)) == 20
        assert all(numbers.count(n) == 2 for n in set(numbers))
        assert len(mailbox[0].messages) == 40
    finally:
        for w in workers:
            w.close()


def test_a_channel_a_campaign_uses_must_be_configured(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, 25, "http://127.0.0.1:1")
    no_token = Settings(**{**settings.__dict__, "auth_token": None})
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN is not set"):
        open_collections(no_token)
    without_email = {**settings.collections}
    without_email.pop("email_from")
    with pytest.raises(SettingsError, match="collections.email_from is not set"):
        open_collections(Settings(**{**settings.__dict__, "collections": without_email}))
    overnight = {**settings.collections,
                 "campaigns": {"default": {"calling_hours": "20:00-08:00"}}}  # fmt: skip
    with pytest.raises(SettingsError, match="campaigns.default.calling_hours: '20:00-08:00' ends"):
        open_collections(Settings(**{**settings.__dict__, "collections": overnight}))
    bad_policy = {**settings.collections, "campaigns": {"default": {"channels": ["fax"]}}}
    with pytest.raises(SettingsError, match="channels"):
        open_collections(Settings(**{**settings.__dict__, "collections": bad_policy}))
