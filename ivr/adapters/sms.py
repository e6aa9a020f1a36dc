"""Text messages through Twilio's Messages API (a form POST to
`{api}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth with the account SID and
auth token). Used for payment receipts when a call could not confirm a payment to the caller;
the simulator and the tests answer it on loopback (`twilio_api_url`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger("ivr.sms")

TWILIO_API = "https://api.twilio.com"
SEND_TIMEOUT = 5.0


@dataclass
class SmsSender:
    account_sid: str
    auth_token: str
    from_number: str
    api_url: str = TWILIO_API
    http: requests.Session | None = None

    def send(self, to: str, body: str) -> str | None:
        """Send `body` to `to`; the message SID, or None when Twilio did not take it (logged,
        never raised: a receipt must not break the call that sends it)."""
        url = f"{self.api_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        http = self.http or requests
        try:
            answer = http.post(
                url,
                data={"To": to, "From": self.from_number, "Body": body},
                auth=(self.account_sid, self.auth_token),
                timeout=SEND_TIMEOUT,
            )
        except requests.RequestException as exc:
            log.error("text message to %s not sent: %s", _masked(to), type(exc).__name__)
            return None
        if answer.status_code not in (200, 201):
            log.error(
                "text message to %s not sent: Twilio answered %d", _masked(to), answer.status_code
            )
            return None
        try:
            sid = answer.json().get("sid")
        except ValueError:
            sid = None
        log.info("text message %s sent to %s", sid, _masked(to))
        return str(sid) if sid else None


def _masked(number: str) -> str:
    """A phone number in a log line: country code and last three digits only."""
    return number[:3] + "…" + number[-3:] if len(number) > 6 else "…"


def receipt(merchant: str, payment: dict[str, Any]) -> str:
    """The text of a payment receipt: who was paid, how much, the confirmation code (never
    card data), from a bridge session's public view."""
    from ivr.lang.formatters import Formatting, currency

    result = payment.get("result") or {}
    amount = currency(payment["amount"], Formatting(payment["currency"]))
    return (
        f"{merchant}: your payment of {amount} was taken. Confirmation code "
        f"{result.get('confirmation_code')}. Please do not pay again."
    )
