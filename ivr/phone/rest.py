"""Twilio's REST API, simulated: the Messages resource as the `twilio` library calls it
(`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic auth with the account SID
and auth token, a form body), answering as Twilio does and keeping every message sent, for
simulated campaigns and tests (`twilio_api_url` points the library here)."""

from __future__ import annotations

import base64
import hmac
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

MAX_BODY = 1600  # characters in one message, as Twilio allows


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    at: datetime


class TwilioRestSimulator:
    """A Flask app answering Twilio's Messages API for one account; `messages` keeps what
    was sent. A number in `undeliverable` is refused as Twilio refuses one it cannot reach."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        clock: Callable[[], datetime] | None = None,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock or (lambda: datetime.now(UTC))
        self.messages: list[SentMessage] = []
        self.undeliverable: set[str] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.app = self._build()

    def sent_to(self, number: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == number]

    def _build(self) -> Flask:
        app = Flask("twilio_rest_simulator", static_folder=None)
        base = "/2010-04-01/Accounts/<account>"

        @app.post(base + "/Messages.json")
        def create_message(account: str) -> tuple[Response, int]:
            refused = self._refuse(account)
            if refused is not None:
                return refused
            form = request.form
            to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
            if not to or not sender or not body:
                return _error(400, 21604, "A 'To', 'From' and 'Body' are required")
            if len(body) > MAX_BODY:
                return _error(400, 21617, "The concatenated message body exceeds 1600 characters")
            if to in self.undeliverable:
                return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            sid = f"SM{next(self._ids):032x}"
            message = SentMessage(sid, to, sender, body, self.clock())
            with self._lock:
                self.messages.append(message)
            return jsonify(
                {"sid": sid, "account_sid": account, "to": to, "from": sender, "body": body,
                 "status": "queued", "num_segments": str(1 + len(body) // 153),
                 "date_created": message.at.strftime("%a, %d %b %Y %H:%M:%S +0000")}
            ), 201  # fmt: skip

        return app

    def _refuse(self, account: str) -> tuple[Response, int] | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        given = request.headers.get("Authorization", "").removeprefix("Basic ")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, 20003, "Authenticate")
        if account != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        return None


def _error(status: int, code: int, message: str) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
    return jsonify(body), status
