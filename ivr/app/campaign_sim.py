"""`ivr collections simulate`: a whole collections campaign on one machine with no outside
service (collections.md "Simulating a campaign"). The serving app runs in-process on a
simulated clock with its PCI bridge (simulated gateway), the demo billing service (which
learns the file's accounts), Twilio's REST API played by the simulator (messages kept,
outbound calls answered by scripted customers through the real webhooks) and a local SMTP
server; the campaign runs for months of simulated time in seconds, and what happened to each
case is reported."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ivr.adapters.loopback import mount
from ivr.app.settings import Settings
from ivr.collections.cases import Case, Cases
from ivr.collections.rows import Defaults, read_rows
from ivr.phone.rest import Answer, TwilioRestSimulator
from ivr.phone.transport import FlaskTransport
from ivr.phone.twilio import SimClock, TwilioSimulator

TWILIO_SIM = "http://twilio.simulated"  # the REST API, in-process
ACCOUNT_SID = "AC" + "5" * 32
STEP = timedelta(hours=4)  # simulated time between looks at the work
NEW_CARD = ("4242424242424242#", "1230", "123", "1")  # a new card on the bridge, then pay
FAILING_CARD = ("4000000000000341#", "1230", "123", "1")  # pays now, declined later
# What a scripted customer does when a person answers (keys are made at call time).
BEHAVIOURS = ("pays", "promises", "plan_1", "plan_2", "plan_3", "plan_2_card_fails",
              "declines", "voicemail", "never_answers", "busy", "plan_2_later")  # fmt: skip


class ScriptError(ValueError):
    """A customers script that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Customer:
    does: str = "never_answers"  # one of BEHAVIOURS, on the call they answer
    answers_call: int = 1  # the outbound call (1st, 2nd...) they answer; before it, no answer
    verify: str = "11"  # the digits they key to prove who they are (the demo postcode's)


@dataclass
class CaseStory:
    """What happened to one case."""

    account: str
    state: str
    flagged: bool
    contacts: list[str] = field(default_factory=list)
    payments: list[str] = field(default_factory=list)
    promises: list[str] = field(default_factory=list)

    def line(self) -> str:
        paid = f"  payments: {', '.join(self.payments)}" if self.payments else ""
        paid += f"  promises: {', '.join(self.promises)}" if self.promises else ""
        flag = "flagged" if self.flagged else "not flagged"
        return f"{self.account:<14} {self.state:<15} {flag:<12} {len(self.contacts)} contacts{paid}"


def read_customers(path: Path) -> dict[str, Customer]:
    """A YAML map of account → {does, answers_call, verify} (`default:` for the others). A
    customer does it on the first call a person answers; on later calls they decline."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScriptError(f"{path}: cannot be read: {exc}") from None
    customers = raw.get("customers", raw) if isinstance(raw, dict) else None
    if not isinstance(customers, dict):
        raise ScriptError(f"{path}: expected a map of accounts to what each customer does")
    out = {}
    for account, spec in customers.items():
        spec = {"does": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict) or set(spec) - {"does", "answers_call", "verify"}:
            raise ScriptError(
                f"{path}: {account}: expected does: (one of {', '.join(BEHAVIOURS)}), "
                "answers_call: N and verify: DIGITS"
            )
        does = str(spec.get("does", "never_answers"))
        if does not in BEHAVIOURS:
            raise ScriptError(
                f"{path}: {account}: does: '{does}' is not one of {', '.join(BEHAVIOURS)}"
            )
        out[str(account)] = Customer(
            does, int(spec.get("answers_call", 1)), str(spec.get("verify", "11"))
        )
    return out


def keys_for(customer: Customer, case: Case, now: datetime) -> Answer:
    """How the customer answers an outbound call at `now`."""
    verify = customer.verify + "#"
    if customer.does == "voicemail":
        return Answer("machine")
    if customer.does in ("never_answers", "busy"):
        return Answer("no-answer" if customer.does == "never_answers" else "busy")
    if customer.does == "declines":
        return Answer("human", ("2",))  # not a good time
    if customer.does == "pays":
        return Answer("human", ("1", verify, "1", "1", "2"))  # the total, card on file
    if customer.does == "promises":
        day = now + timedelta(days=7)
        amount = f"{case.amount_due:.2f}".replace(".", "*") + "#"
        return Answer("human", ("1", verify, "2", f"{day:%d%m}", amount, "1"))
    if customer.does == "plan_2_card_fails":  # the later payments are declined
        return Answer("human", ("1", verify, "3", "2", "1", *FAILING_CARD))
    if customer.does == "plan_2_later":  # from a later day: the card saved, nothing taken now
        on = 28 if now.day < 28 else 1
        return Answer("human", ("1", verify, "3", "2", "2", f"{on}#", *NEW_CARD))
    months = customer.does.removeprefix("plan_")
    return Answer("human", ("1", verify, "3", months, "1", *NEW_CARD))


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    """A local SMTP server keeping what it receives (aiosmtpd)."""
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


@dataclass
class CampaignResult:
    stories: list[CaseStory]
    texts: int
    emails: int
    calls: int
    report: list[str]  # the file's report lines
    messages: list[str] = field(default_factory=list)  # every text and email, as sent

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for story in self.stories:
            out[story.state] = out.get(story.state, 0) + 1
        return out


def simulate(
    csv_file: Path,
    customers: dict[str, Customer],
    *,
    days: int = 92,
    start: datetime | None = None,
    callplans: Path = Path("callplans"),
    folder: Path | None = None,
) -> CampaignResult:
    """Run a campaign from `csv_file` for `days` of simulated time."""
    from demo.billing import Billing
    from ivr.app.web import create_app

    clock = SimClock(start or datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0))
    data = csv_file.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ivr-campaign-") as scratch, smtp_server() as smtp:
        work = folder or Path(scratch)
        billing_db = f"sqlite:///{work}/billing.sqlite3"
        billing = Billing.from_file(database_url=billing_db)
        parsed = read_rows(data, csv_file.name, Defaults())
        billing.store.seed([billing_account(row) for row in parsed.rows])
        billing.close()
        token = secrets.token_urlsafe(24)
        settings = Settings(
            callplans=callplans,
            database_url=f"sqlite:///{work}/ivr.sqlite3",
            pci={"database_url": f"sqlite:///{work}/pci.sqlite3", "result_webhook": None},
            demo_billing=True,
            demo_billing_database=billing_db,
            auth_token=token,
            account_sid=ACCOUNT_SID,
            public_url="http://127.0.0.1:8080",  # what the simulator signs, as Twilio would
            twilio_api_url=TWILIO_SIM,
            watch_plans=False,
            log_level="WARNING",
            secrets={"COLLECTIONS_API_KEY": secrets.token_urlsafe(24)},
            collections={
                "call_number": "+442071230001",
                "sms_from": "+442071230555",
                "email_from": "collections@example.com",
                "smtp": {"host": "127.0.0.1", "port": smtp[0]},
                "interval": 3600,
                "campaigns": {
                    "default": {
                        "channels": ["sms", "email", "call"],
                        "attempts": 3,
                        "gap_hours": 48,
                    }
                },
            },  # fmt: skip
        )
        app = create_app(settings, clock=clock)
        system = app.extensions["ivr"]
        system.stop_background()  # this loop does the periodic work, on simulated time
        rest = TwilioRestSimulator(ACCOUNT_SID, token, clock=clock)
        mount(system.engine.http, rest.app, TWILIO_SIM)
        voice = TwilioSimulator(
            FlaskTransport(app),
            directory=system.directory,
            auth_token=token,
            sign_base=settings.self_url,
            account_sid=ACCOUNT_SID,
            clock=clock,
        )
        collections = system.collections
        try:
            report = collections.intake.take(data, csv_file.name)
            scripted = ScriptedCustomers(customers)
            end = clock.now + timedelta(days=days)
            while clock.now < end:
                collections.tick()
                rest.run_calls(voice, scripted.answer(rest, collections.cases, clock.now))
                rest.report_deliveries(voice)
                clock.advance(STEP.total_seconds())
            collections.tick()
            stories = [_story(collections, case) for case in collections.cases.cases()]
            return CampaignResult(
                stories,
                texts=len(rest.messages),
                emails=len(smtp[1]),
                calls=len(rest.calls),
                report=report.lines(),
                messages=[m.body for m in rest.messages] + [m.as_string() for m in smtp[1]],
            )
        finally:
            system.stop_background()
            collections.close()
            if system.bridge is not None:
                system.bridge.close()


class ScriptedCustomers:
    """Answers the calls placed to the customers of a script: each does what the script says
    on the first call a person answers (after `answers_call` - 1 unanswered), then declines."""

    def __init__(self, customers: dict[str, Customer]):
        self.customers = customers
        self.calls_made: dict[str, int] = {}
        self.acted: set[str] = set()

    def answer(self, rest: TwilioRestSimulator, cases: Cases, now: datetime) -> list[Any]:
        """Tell `rest` how each call placed and not yet run is answered: those calls (to run
        with `rest.run_calls(voice, calls)`; a call placed meanwhile waits for the next)."""
        placed_calls = rest.pending()
        for placed in placed_calls:
            case_id = placed.call.url.rsplit("case=", 1)[-1]  # the URL carries the case's id
            case = cases.get(int(case_id)) if case_id.isdigit() else None
            customer = self.customers.get(case.account if case else "") or self.customers.get(
                "default", Customer()
            )
            to = placed.call.to
            n = self.calls_made[to] = self.calls_made.get(to, 0) + 1
            if case is None or n < customer.answers_call:
                answer = Answer("no-answer")
            elif case.account in self.acted:
                answer = keys_for(Customer("declines"), case, now)
            else:
                answer = keys_for(customer, case, now)
                if answer.answer == "human":
                    self.acted.add(case.account)
            rest.answers(to, answer)
        return placed_calls


def billing_account(row: Any) -> dict[str, Any]:
    """The demo billing account a file's row is (verification digits "11", a card on file)."""
    return {
        "id": f"S{row.account}",
        "number": row.account,
        "name": row.name or f"Customer {row.account}",
        "phones": [row.phone],
        "postcode": "SW1A 1AA",  # the verification digits "11"
        "card": {
            "token": f"tok_sim_{row.account}",
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": 2030,
        },  # fmt: skip
        "bills": [
            {
                "id": f"B-{row.account}",
                "period": "Arrears",
                "due_date": (row.due_date.isoformat() if row.due_date else "2026-11-15"),
                "status": "open",
                "amount": f"{row.amount_due:.2f}",
            }
        ],  # fmt: skip
    }


def _story(collections: Any, case: Case) -> CaseStory:
    story = CaseStory(case.account, case.state.value, case.flagged)
    story.contacts = [f"{k.channel} {k.result}" for k in collections.cases.contacts(case.id)]
    for plan in collections.plans.for_case(case.id):
        taken = sum(1 for p in plan.instalments if p.state.value == "taken")
        story.payments.append(f"plan of {plan.months} {plan.state.value} ({taken} taken)")
    for promise in collections.promises.for_case(case.id):
        amount = Decimal(promise.amount_minor).scaleb(-2)
        story.promises.append(f"{amount:.2f} by {promise.promised_for} {promise.state}")
    return story
