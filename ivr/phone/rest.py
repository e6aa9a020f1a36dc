"""Twilio's REST API, simulated: the Messages and Calls resources as the `twilio` library calls
them (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and `.../Calls.json`, HTTP basic
auth with the account SID and auth token, a form body), answering as Twilio does, for simulated
campaigns and tests (`twilio_api_url` points the library here). Messages are kept; calls are
queued and run by `run_calls` against the app's webhooks, answered by scripted customers (a
person keying entries, an answering machine, nobody, a busy line)."""

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

from ivr.phone.twilio import (
    NO_MORE_KEYS,
    CallResult,
    Event,
    KeySource,
    OutboundCall,
    Spoken,
    TwilioSimulator,
)

MAX_BODY = 1600  # characters in one message, as Twilio allows
ANSWERS = ("human", "machine", "no-answer", "busy", "failed")


@dataclass(frozen=True)
class Answer:
    """How a scripted customer answers one call: `human` (then keys `entries` at the
    prompts and hangs up when they run out), `machine` (voicemail: the message is heard to
    its end), `no-answer`, `busy` or `failed`."""

    answer: str = "human"
    entries: tuple[str | Spoken, ...] = ()


@dataclass
class PlacedCall:
    call: OutboundCall
    answer: Answer | None = None  # None until it has been run
    result: CallResult | None = None


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    at: datetime
    status_callback: str | None = None  # where its delivery is reported


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
        self.unreachable: set[str] = set()  # taken, then reported undelivered (30003)
        self._reported: set[str] = set()
        self.refused_reports: list[tuple[str, int]] = []  # (sid, status) answered >= 300
        self.calls: list[PlacedCall] = []
        self.customers: dict[str, list[Answer]] = {}  # number → how each call is answered
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.app = self._build()

    def sent_to(self, number: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == number]

    def answers(self, number: str, *answers: Answer) -> None:
        """How `number` answers its next calls, in order (the last one again after that)."""
        self.customers[number] = list(answers)

    def report_deliveries(self, voice: TwilioSimulator) -> int:
        """Report each text taken and not yet reported to its StatusCallback, signed as
        Twilio signs it: delivered, or undelivered (error 30003) to an unreachable number;
        how many were reported."""
        with self._lock:
            due = [m for m in self.messages if m.status_callback and m.sid not in self._reported]
            self._reported.update(m.sid for m in due)
        for message in due:
            assert message.status_callback is not None
            lost = message.to in self.unreachable
            params = {
                "MessageSid": message.sid, "SmsSid": message.sid, "AccountSid": self.account_sid,
                "From": message.from_, "To": message.to,
                "MessageStatus": "undelivered" if lost else "delivered",
                **({"ErrorCode": "30003"} if lost else {}),
            }  # fmt: skip
            status, _ = voice.callback(message.status_callback, params)
            if status >= 300:  # Twilio does not send it again: kept for the test to see
                self.refused_reports.append((message.sid, status))
        return len(due)

    def pending(self) -> list[PlacedCall]:
        with self._lock:
            return [c for c in self.calls if c.result is None]

    def run_calls(
        self, voice: TwilioSimulator, calls: list[PlacedCall] | None = None
    ) -> list[PlacedCall]:
        """Run every call placed and not yet run (or those of `calls`), each answered as its
        number's script says (a number with no script does not answer); what happened to
        each."""
        done = []
        for placed in self.pending() if calls is None else calls:
            answer = self._next_answer(placed.call.to)
            placed.answer = answer
            events: list[Event] = []
            if answer.answer in ("human", "machine"):
                state = voice.begin_outbound(
                    placed.call, "human" if answer.answer == "human" else "machine_end_beep",
                    events,
                )  # fmt: skip
                keys = KeySource(list(answer.entries) if answer.answer == "human" else [])
                while state.waiting is not None:
                    entry = keys.next(state.waiting.prompt, state.waiting.leg)
                    if entry is NO_MORE_KEYS:
                        voice.hang_up(state, events)
                        break
                    voice.answer(state, entry, events)
                status, duration = "completed", state.duration
            else:
                voice.not_answered(placed.call, answer.answer, events)
                status, duration = answer.answer, 0
            placed.result = CallResult(
                placed.call.sid, placed.call.from_, placed.call.to, events, status, duration
            )
            done.append(placed)
        return done

    def _next_answer(self, number: str) -> Answer:
        with self._lock:
            script = self.customers.get(number)
            if not script:
                return Answer("no-answer")
            return script.pop(0) if len(script) > 1 else script[0]

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
            message = SentMessage(
                sid, to, sender, body, self.clock(), form.get("StatusCallback") or None
            )
            with self._lock:
                self.messages.append(message)
            return jsonify(
                {"sid": sid, "account_sid": account, "to": to, "from": sender, "body": body,
                 "status": "queued", "num_segments": str(1 + len(body) // 153),
                 "date_created": message.at.strftime("%a, %d %b %Y %H:%M:%S +0000")}
            ), 201  # fmt: skip

        @app.post(base + "/Calls.json")
        def create_call(account: str) -> tuple[Response, int]:
            refused = self._refuse(account)
            if refused is not None:
                return refused
            form = request.form
            to, sender, url = form.get("To", ""), form.get("From", ""), form.get("Url", "")
            if not to or not sender:
                return _error(400, 21201, "A 'To' and a 'From' phone number are required")
            if not url and not form.get("Twiml"):
                return _error(400, 21205, "A 'Url' or 'Twiml' is required")
            if to in self.undeliverable:
                return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            sid = f"CA{next(self._ids):032x}"
            call = OutboundCall(
                sid, to, sender, url, form.get("StatusCallback"), form.get("MachineDetection")
            )
            with self._lock:
                self.calls.append(PlacedCall(call))
            return jsonify(
                {"sid": sid, "account_sid": account, "to": to, "from": sender,
                 "status": "queued", "direction": "outbound-api"}
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
