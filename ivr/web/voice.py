"""Voice webhooks: `/voice` (new call), `/voice/status` (call ended) and the turn URLs the
TwiML carries. A call the engine knows never gets a 5xx: the caller hears an apology."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ivr.actions import Dial, Hangup, Say, Turn
from ivr.errors import PlanNotFound
from ivr.system import System
from ivr.twiml import render

log = logging.getLogger("ivr.web")

bp = Blueprint("voice", __name__, url_prefix="/voice")

FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
SECONDS = re.compile(r"[0-9]{1,9}")
NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
APOLOGY = "Sorry, we are having technical difficulties. Please call back later. Goodbye."


def _prefix() -> str:
    """Absolute under the configured public URL (which may have a path, e.g. /ivr), else a
    path under the app's mount point."""
    public = system().settings.public_url
    root = public.rstrip("/") if public else request.script_root
    return root + bp.url_prefix  # type: ignore[operator]


class FlaskUrls:
    """Turn URLs (the routes below: /voice/turn/N/...)."""

    def __init__(self) -> None:
        self.base = _prefix() + "/turn/"

    def keys(self, turn: int) -> str:
        return f"{self.base}{turn}/keys"

    def dial(self, turn: int) -> str:
        return f"{self.base}{turn}/dial"

    def queue(self, turn: int) -> str:
        return f"{self.base}{turn}/queue"


def system() -> System:
    return current_app.extensions["ivr"]


def twiml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


def _respond(turn: Turn) -> Response:
    return twiml(render(turn, FlaskUrls()))


class BadField(ValueError):
    """A Twilio field that cannot be what Twilio sends."""


def call_sid() -> str:
    """The request's CallSid: CA and 32 hex digits, as Twilio makes them. Anything else (a
    forged or mangled request) is refused before it reaches a store key or a log line."""
    sid = request.form.get("CallSid", "")
    if not CALL_SID.fullmatch(sid):
        raise BadField(f"CallSid {sid[:40]!r} is not a Twilio call SID (CA and 32 hex digits)")
    return sid


def seconds(name: str) -> int:
    """A duration field (DialCallDuration, ...): whole seconds, else 0 with a log line."""
    value = request.form.get(name, "0")
    if SECONDS.fullmatch(value):
        return int(value)
    log.warning("[%s] %s %r is not a number of seconds; taken as 0",
                request.form.get("CallSid", "")[:40], name, value[:20])
    return 0


def _guarded(call: Callable[[], Turn]) -> Response:
    """Run an engine call; any failure becomes an apology (and the plan's fallback when it is
    a transfer that can run without a session)."""
    try:
        sid = call_sid()
    except BadField as exc:
        log.warning("%s %s refused: %s", request.method, request.path, exc)
        return _say_and_hang_up(APOLOGY)
    try:
        return _respond(call())
    except PlanNotFound as exc:
        log.warning("[%s] %s", sid, exc)
        return _say_and_hang_up(NOT_IN_SERVICE)
    except Exception:
        log.exception("[%s] webhook failed; the caller hears an apology", sid)
        return _emergency(sid)


def _say_and_hang_up(text: str) -> Response:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return twiml(str(response))


def _emergency(sid: str) -> Response:
    """No session to work with: apologise, and transfer to the plan's fallback agent line if
    that fallback is a plain transfer to a number."""
    try:
        compiled = system().catalog.for_number(request.form.get("To", ""))
        spec = compiled.plan.applets.get(compiled.plan.fallback or "") if compiled else None
        if spec is not None and spec.type == "transfer" and spec.config.queue is None:
            numbers = spec.config.numbers or (spec.config.number,)
            number = numbers[0]
            if number is not None and number.is_constant:
                turn = Turn(sid, 0, (Say(APOLOGY.replace(" Please call back later. Goodbye.",
                                                         " Transferring you to an agent.")),
                                     Dial(number.source), Hangup()), ended=True)
                return twiml(render(turn, _OrphanUrls()))
    except Exception:
        log.exception("[%s] fallback transfer unavailable", sid)
    return _say_and_hang_up(APOLOGY)


class _OrphanUrls:
    def keys(self, turn: int) -> str:
        return _prefix() + "/orphan"

    dial = queue = keys


@bp.post("")
def incoming() -> Response:
    form = request.form
    return _guarded(lambda: system().engine.start_call(
        call_sid(), caller=form.get("From", ""), called=form.get("To", "")))


@bp.post("/turn/<int:turn>/keys")
def keys(turn: int) -> Response:
    form = request.form
    return _guarded(lambda: system().engine.keys(
        call_sid(), turn, form.get("Digits", ""), form.get("FinishedOnKey", "")))


@bp.post("/turn/<int:turn>/dial")
def dial(turn: int) -> Response:
    form = request.form
    return _guarded(lambda: system().engine.dial_ended(
        call_sid(), turn, form.get("DialCallStatus", "failed"), seconds("DialCallDuration")))


@bp.post("/turn/<int:turn>/queue")
def queue(turn: int) -> Response:
    form = request.form
    return _guarded(lambda: system().engine.queue_left(
        call_sid(), turn, form.get("QueueResult", "error")))


@bp.post("/orphan")
def orphan() -> Response:
    """Where an emergency transfer comes back: end the call."""
    response = VoiceResponse()
    response.hangup()
    return twiml(str(response))


@bp.post("/status")
def status() -> Response:
    form = request.form
    try:
        sid = call_sid()
    except BadField as exc:
        log.warning("POST %s refused: %s", request.path, exc)
        return Response("", status=400)
    call_status = form.get("CallStatus", "")
    if call_status in FINAL_STATUSES:
        try:
            system().engine.end_call(sid, call_status)
        except Exception:
            log.exception("[%s] status callback failed", sid)
            return Response("", status=503)  # Twilio does not retry, but it is logged
    return Response("", status=204)
