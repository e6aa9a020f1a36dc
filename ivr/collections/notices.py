"""Payment-due notices: the texts (templates with the amount, the due date and the number to
call; email in plain text and HTML) and the two ways they leave, Twilio's Messages API and
SMTP. A notice never carries card data: it is made from the case alone."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import escape
from twilio.base.exceptions import TwilioException, TwilioRestException

from ivr.collections.cases import Case

log = logging.getLogger("ivr.collections")

TEMPLATES = Path(__file__).with_name("templates")
SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Sent:
    """What a channel did with a notice: `sent` (taken by Twilio, whose delivery report later
    makes it `delivered` or `failed`), `delivered` (taken by the mail server) or `failed`, with
    the message id or the reason."""

    result: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.result in ("sent", "delivered")


@dataclass(frozen=True)
class Notice:
    sms: str
    subject: str
    text: str
    html: str


class NoticeWriter:
    """Renders the templates (the shipped ones, or a folder of the same names)."""

    def __init__(self, merchant: str, call_number: str, folder: Path | None = None):
        self.merchant = merchant
        self.call_number = call_number
        folders = [str(folder), str(TEMPLATES)] if folder else [str(TEMPLATES)]
        self.env = Environment(
            loader=FileSystemLoader(folders),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def write(self, case: Case) -> Notice:
        values = self.values(case)

        def render(name: str) -> str:
            return self.env.get_template(name).render(values).strip()

        return Notice(
            sms=" ".join(render("notice.sms.txt").split()),
            subject=" ".join(render("notice.email.subject.txt").split()),
            text=render("notice.email.txt") + "\n",
            html=render("notice.email.html") + "\n",
        )

    def values(self, case: Case) -> dict[str, Any]:
        return {
            "merchant": self.merchant,
            "call_number": self.call_number,
            "account": case.account,
            "amount": money(case.amount_due, case.currency),
            "due_date": f"{case.due_date.day} {case.due_date:%B %Y}" if case.due_date else "",
            "name_or_customer": case.name or "customer",
            "reference": case.reference,
        }


def money(amount: Decimal, currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


class SmsChannel:
    """Text messages through Twilio's Messages API (the `twilio` library's client); Twilio
    reports each one's delivery to `status_url` (POST /collections/sms/status)."""

    def __init__(self, client: Any, from_number: str, status_url: str | None = None):
        self.client = client
        self.from_number = from_number
        self.status_url = status_url

    def send(self, to: str, body: str) -> Sent:
        extra = {"status_callback": self.status_url} if self.status_url else {}
        try:
            message = self.client.messages.create(to=to, from_=self.from_number, body=body, **extra)
        except TwilioRestException as exc:
            return Sent("failed", f"Twilio refused it ({exc.status}, code {exc.code})")
        except (TwilioException, OSError) as exc:
            return Sent("failed", f"Twilio did not answer ({type(exc).__name__})")
        return Sent("sent", str(message.sid))


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None  # the secret SMTP_PASSWORD


class EmailChannel:
    """Email through an SMTP server: one message with a plain-text and an HTML part."""

    def __init__(self, smtp: SmtpSettings, from_address: str):
        self.smtp = smtp
        self.from_address = from_address

    def send(self, to: str, subject: str, text: str, html: str) -> Sent:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = to
        message["Subject"] = subject
        message_id = make_msgid(domain=self.from_address.rpartition("@")[2] or None)
        message["Message-ID"] = message_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=SMTP_TIMEOUT) as server:
                if self.smtp.starttls:
                    server.starttls(context=ssl.create_default_context())
                if self.smtp.username and self.smtp.password:
                    server.login(self.smtp.username, self.smtp.password)
                refused = server.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            return Sent("failed", "the mail server refused the address")
        except (smtplib.SMTPException, OSError) as exc:
            return Sent("failed", f"the mail server did not take it ({type(exc).__name__})")
        if refused:
            return Sent("failed", "the mail server refused the address")
        return Sent("delivered", message_id)


class Notifier:
    """Short messages about a case's payments (a receipt, a failed payment), by text and by
    email, through whichever channels are configured; never card data."""

    def __init__(self, merchant: str, sms: SmsChannel | None, email: EmailChannel | None):
        self.merchant = merchant
        self.sms = sms
        self.email = email

    def tell(self, case: Case, subject: str, text: str) -> dict[str, Sent]:
        sent: dict[str, Sent] = {}
        body = f"{self.merchant}: {text}"
        if self.sms is not None and case.phone:
            sent["sms"] = self.sms.send(case.phone, body)
        if self.email is not None and case.email:
            html = f'<!doctype html><html lang="en"><body><p>{escape(body)}</p></body></html>\n'
            sent["email"] = self.email.send(
                case.email, f"{self.merchant}: {subject}", body + "\n", html
            )
        return sent
