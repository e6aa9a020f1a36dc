"""Voice webhooks: `/voice` (new call), `/voice/status` (call ended) and the turn URLs the
TwiML carries, each a function of one `Webhook` (routed, checked and timed by
ivr.adapters.webhooks). A call the engine knows never gets a 5xx: the caller hears an apology."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from twilio.twiml.voice_response import VoiceResponse
from werkzeug.wrappers import Request, Response

from foundation.outage import Outage
from foundation.stages import stage
from foundation.twilio_signature import is_call_sid
from ivr.adapters import metrics
from ivr.adapters.sms import SmsSender, receipt
from ivr.adapters.twiml import render
from ivr.engine.actions import Dial, Hangup, Say, Turn
from ivr.engine.catalog import Catalog
from ivr.engine.records import CallRecord
from ivr.engine.turns import Engine
from ivr.errors import PlanNotFound, RecordsUnavailable, SessionLost, StoreError

log = logging.getLogger("ivr.web")


def store_outage() -> Outage:
    """Said once when the session store fails and once when it is back, with a count
    between (one per app: the webhooks of one process)."""
    return Outage(
        "the session store",
        log,
        "webhooks answered with the apology",
        "callers hear an apology and reach the emergency line; status callbacks keep "
        "recording the call from the callback",
    )


FINAL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}

SECONDS = re.compile(r"[0-9]{1,9}")
CONFIDENCE = re.compile(r"(?:0(?:\.[0-9]{1,12})?|1(?:\.0{1,12})?|\.[0-9]{1,12})")
MAX_SPEECH = 500  # characters of SpeechResult kept: more than anyone says at one prompt
NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
APOLOGY = "Sorry, we are having technical difficulties. Please call back later. Goodbye."
SESSION_LOST = "SessionLost"  # the outcome of a call recorded from its status callback alone
# ...and of one that paid meanwhile: the caller may not have heard the confirmation
CHARGED_NOT_CONFIRMED = "ChargedNotConfirmed"
NOT_IN_SERVICE_OUTCOME = "NotInService"  # a call to a number no plan answers
UNANSWERED = "Unanswered"  # a call this app placed that nobody answered (busy, no answer)


class Webhook:
    """One webhook being answered: Twilio's request and the system that answers it."""

    __slots__ = ("request", "form", "host")

    def __init__(self, request: Request, host: VoiceHost) -> None:
        self.request = request
        self.form = request.form
        self.host = host

    def prefix(self) -> str:
        """Absolute under the configured public URL (which may have a path, e.g. /ivr), else
        a path under the app's mount point."""
        public = self.host.settings.public_url
        return (public.rstrip("/") if public else self.request.script_root) + "/voice"

    def call_sid(self) -> str:
        """The request's CallSid: CA and 32 hex digits, as Twilio makes them. Anything else (a
        forged or mangled request) is refused before it reaches a store key or a log line."""
        sid = self.form.get("CallSid", "")
        if not is_call_sid(sid):
            raise BadField(f"CallSid {sid[:40]!r} is not a Twilio call SID (CA and 32 hex digits)")
        return sid

    def seconds(self, name: str) -> int:
        """A duration field (DialCallDuration, ...): whole seconds, else 0 with a log line."""
        value = self.form.get(name, "0")
        if SECONDS.fullmatch(value):
            return int(value)
        log.warning(
            "[%s] %s %r is not a number of seconds; taken as 0",
            self.form.get("CallSid", "")[:40],
            name,
            value[:20],
        )
        return 0


class TurnUrls:
    """Turn URLs (the webhooks below: /voice/turn/N/...)."""

    def __init__(self, prefix: str) -> None:
        self.base = prefix + "/turn/"

    def keys(self, turn: int) -> str:
        return f"{self.base}{turn}/keys"

    def dial(self, turn: int) -> str:
        return f"{self.base}{turn}/dial"

    def queue(self, turn: int) -> str:
        return f"{self.base}{turn}/queue"


class VoiceSettings(Protocol):
    @property
    def public_url(self) -> str | None: ...

    @property
    def emergency_number(self) -> str | None: ...


class VoiceHost(Protocol):
    """What these webhooks need from the system the composition root (`ivr.app`) builds."""

    @property
    def settings(self) -> VoiceSettings: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def recorder(self) -> Any: ...

    @property
    def sms(self) -> SmsSender | None: ...

    @property
    def merchant_name(self) -> str: ...

    @property
    def store_outage(self) -> Outage: ...

    def paid_by(self, caller: str, since: datetime) -> list[dict[str, Any]]: ...

    def outbound_call(self, campaign: str, case: str) -> tuple[str, dict[str, str]] | None:
        """The plan and data sources of a call this app placed (None: not one it knows)."""
        ...


def twiml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


class BadField(ValueError):
    """A Twilio field that cannot be what Twilio sends."""


def confidence(value: str) -> float:
    """Twilio's `Confidence` (0 to 1); anything else is 0, so the words count as unsure."""
    return float(value) if CONFIDENCE.fullmatch(value.strip()) else 0.0


def _guarded(hook: Webhook, call: Callable[[str], Turn]) -> Response:
    """Run an engine call for the request's CallSid; any failure becomes an apology (and the
    plan's fallback when it is a transfer that can run without a session)."""
    try:
        sid = hook.call_sid()
    except BadField as exc:
        metrics.ERRORS.labels(metrics.BAD_REQUEST).inc()
        log.warning("%s %s refused: %s", hook.request.method, hook.request.path, exc)
        return say_and_hang_up(APOLOGY)
    try:
        with stage("turn"):
            turn = call(sid)
        with stage("twiml"):
            answer = twiml(render(turn, TurnUrls(hook.prefix())))
        hook.host.store_outage.ok()
        return answer
    except PlanNotFound as exc:
        log.warning("[%s] %s", sid, exc)
        return say_and_hang_up(NOT_IN_SERVICE)
    except SessionLost as exc:
        metrics.ERRORS.labels(metrics.STORE_UNAVAILABLE).inc()
        log.warning("%s; the caller hears an apology", exc)
        return _emergency(hook, sid)
    except StoreError as exc:  # the store is down: said once, not a traceback a webhook
        metrics.ERRORS.labels(metrics.STORE_UNAVAILABLE).inc()
        hook.host.store_outage.failed(exc)
        return _emergency(hook, sid)
    except Exception:
        metrics.ERRORS.labels(metrics.ENGINE_ERROR).inc()
        log.exception("[%s] webhook failed; the caller hears an apology", sid)
        return _emergency(hook, sid)


def say_and_hang_up(text: str) -> Response:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return twiml(str(response))


def _emergency(hook: Webhook, sid: str) -> Response:
    """No session to work with: apologise, and transfer to the plan's fallback agent line if
    that fallback is a plain transfer to a number, else to the configured `emergency_number`
    (whatever the plan's fallback is), else hang up."""
    number = hook.host.settings.emergency_number
    try:
        compiled = hook.host.catalog.for_number(hook.form.get("To", ""))
        fallback = compiled.applets.get(compiled.plan.fallback or "") if compiled else None
        agent = fallback.agent_number() if fallback is not None else None
        if agent:
            number = agent
    except Exception:
        log.exception("[%s] fallback transfer unavailable", sid)
    if number:
        turn = Turn(
            sid,
            0,
            (
                Say(
                    APOLOGY.replace(
                        " Please call back later. Goodbye.", " Transferring you to an agent."
                    )
                ),
                Dial(number),
                Hangup(),
            ),
            ended=True,
        )
        return twiml(render(turn, _OrphanUrls(hook.prefix())))
    return say_and_hang_up(APOLOGY)


class _OrphanUrls:
    def __init__(self, prefix: str) -> None:
        self.url = prefix + "/orphan"

    def keys(self, turn: int) -> str:
        return self.url

    dial = queue = keys


# The webhooks (routed by ivr.adapters.webhooks: /voice, /voice/turn/N/keys, ...)


def incoming(hook: Webhook) -> Response:
    form = hook.form
    return _guarded(
        hook,
        lambda sid: hook.host.engine.start_call(
            sid, caller=form.get("From", ""), called=form.get("To", "")
        ),
    )


def outbound(hook: Webhook) -> Response:
    """A call this app placed through Twilio's REST API has been answered: its plan and data
    come from what placed it (`campaign` and `case` in the URL, which Twilio signs); the
    customer is `To`, and `AnsweredBy` says whether a person or a machine answered."""
    form, args = hook.form, hook.request.args
    placed = hook.host.outbound_call(args.get("campaign", ""), args.get("case", ""))
    if placed is None:
        log.warning(
            "outbound call for an unknown campaign or case: %s", hook.request.query_string[:80]
        )
        response = VoiceResponse()
        response.hangup()
        return twiml(str(response))
    plan_id, data = placed
    extra = {**data, "AnsweredBy": form.get("AnsweredBy", "unknown"), "Direction": "outbound"}
    return _guarded(
        hook,
        lambda sid: hook.host.engine.start_call(
            sid,
            caller=form.get("To", ""),
            called=form.get("From", ""),
            plan_id=plan_id,
            data=extra,
        ),
    )


def keys(hook: Webhook, turn: int) -> Response:
    form = hook.form
    return _guarded(
        hook,
        lambda sid: hook.host.engine.keys(
            sid,
            turn,
            form.get("Digits", ""),
            form.get("FinishedOnKey", ""),
            speech=form.get("SpeechResult", "")[:MAX_SPEECH],
            confidence=confidence(form.get("Confidence", "")),
        ),
    )


def dial(hook: Webhook, turn: int) -> Response:
    return _guarded(
        hook,
        lambda sid: hook.host.engine.dial_ended(
            sid, turn, hook.form.get("DialCallStatus", "failed"), hook.seconds("DialCallDuration")
        ),
    )


def queue(hook: Webhook, turn: int) -> Response:
    return _guarded(
        hook,
        lambda sid: hook.host.engine.queue_left(sid, turn, hook.form.get("QueueResult", "error")),
    )


def orphan(hook: Webhook) -> Response:
    """Where an emergency transfer comes back: end the call."""
    response = VoiceResponse()
    response.hangup()
    return twiml(str(response))


def status(hook: Webhook) -> Response:
    try:
        sid = hook.call_sid()
    except BadField as exc:
        log.warning("POST %s refused: %s", hook.request.path, exc)
        return Response("", status=400)
    call_status = hook.form.get("CallStatus", "")
    if call_status in FINAL_STATUSES:
        engine = hook.host.engine
        try:
            known, _ = engine.end_call_known(sid, call_status)
            if not known:
                log.warning(
                    "[%s] status callback for a call whose session is gone; "
                    "recording the call from the callback",
                    sid,
                )
                _record_from_callback(hook, sid, call_status)
        except StoreError as exc:
            hook.host.store_outage.failed(exc)
            _record_from_callback(hook, sid, call_status)
        except Exception as exc:
            log.error(
                "[%s] status callback: the call's session is unavailable (%s); "
                "recording the call from the callback",
                sid,
                type(exc).__name__,
            )
            _record_from_callback(hook, sid, call_status)
    return Response("", status=204)


def _record_from_callback(hook: Webhook, sid: str, call_status: str) -> None:
    """The session is gone (its store is down): keep a record of the call from what the
    status callback carries, unless the call was already recorded."""
    form, host = hook.form, hook.host
    recorder = host.recorder
    try:
        if getattr(recorder, "find", None) is not None and recorder.find(sid) is not None:
            return
    except RecordsUnavailable:
        return  # said once by the recorder; a record kept for later may be this call's
    try:
        compiled = host.catalog.for_number(form.get("To", ""))
        ended = host.engine.clock()
        started = ended - timedelta(seconds=hook.seconds("CallDuration"))
        caller = form.get("From", "")
        paid = host.paid_by(caller, started - timedelta(seconds=5))
        recorder.record(
            CallRecord(
                call_sid=sid,
                plan_id=compiled.id if compiled else "",
                plan_version="",
                clid=caller,
                ddi=form.get("To", ""),
                started_at=started.isoformat(),
                ended_at=ended.isoformat(),
                outcome=(
                    CHARGED_NOT_CONFIRMED
                    if paid
                    else UNANSWERED
                    if form.get("Direction") == "outbound-api"
                    else SESSION_LOST
                    if compiled
                    else NOT_IN_SERVICE_OUTCOME
                ),
                end_status=call_status,
            )
        )
    except Exception:
        log.exception("[%s] the call could not be recorded from its status callback", sid)
        return
    if paid:
        send_receipts(host, sid, caller, paid)


def send_receipts(host: VoiceHost, sid: str, caller: str, paid: list[dict]) -> None:
    """Text the caller what they paid, when the call could not tell them for sure."""
    sms = host.sms
    if sms is None:
        log.warning(
            "[%s] %d payment(s) not confirmed to the caller and no text message sent "
            "(set sms_from to send receipts)",
            sid,
            len(paid),
        )
        return
    merchant = host.merchant_name
    for payment in paid:
        sms.send(caller, receipt(merchant, payment))
