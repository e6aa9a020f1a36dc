"""A stand-in for Twilio: places a call against the webhooks and follows the TwiML it gets back.

It reproduces the rules in twilio-voice.md: verbs in order, end of document hangs up,
`<Gather>` with numDigits / finishOnKey / timeout / actionOnEmptyResult, `<Redirect>`,
`<Dial>` with `action` (a child leg for our own numbers, e.g. the PCI bridge), `<Enqueue>`,
`<Hangup>`, signed requests, and status callbacks. Time is simulated: nothing waits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from ivr.app.settings import Destination
from ivr.tools.simulator.transport import Transport

FINAL = "completed"
NO_MORE_KEYS = object()


class SimClock:
    """Simulated time shared with an in-process engine: advances, never sleeps."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Event:
    """One line of the transcript."""

    kind: str  # say play pause prompt keys no_input dial connected dial_result enqueue
    #            queue_result redirect hangup caller_hangup error leg_start leg_end
    text: str = ""
    leg: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text, "leg": self.leg}
        if self.data:
            out.update(self.data)
        return out


class EventLog(list):
    """The transcript: a list of events that also tells a listener as each one happens."""

    def __init__(self, listener: Callable[[Event], None] | None = None):
        super().__init__()
        self.listener = listener

    def append(self, event: Event) -> None:  # type: ignore[override]
        super().append(event)
        if self.listener is not None:
            self.listener(event)


@dataclass(frozen=True)
class Spoken:
    """Words the caller says at a prompt (sent as SpeechResult where the prompt takes speech)."""

    text: str
    confidence: float = 0.92


KEYS = re.compile(r"[0-9*#]+")


def bad_entry(entry: str) -> str | None:
    """Why `entry` cannot be pressed on a key pad (None: it can; '-' is no input)."""
    entry = entry.strip()
    if entry in ("-", "") or KEYS.fullmatch(entry):
        return None
    return f"'{entry}' is not keys: a key pad has 0-9, * and #; '-' presses nothing"


class KeySource:
    """Entries, one per prompt: keys, '-' for no input, or `Spoken` words; `ask` is asked when
    they run out (`leg` tells it which leg the prompt is on: 0 is the caller's call)."""

    def __init__(
        self,
        entries: list[str | Spoken] | None = None,
        ask: Callable[[str], str | Spoken | None] | None = None,
    ):
        self.entries = list(entries or [])
        self.ask = ask
        self.used = 0
        self.leg = 0

    def next(self, prompt_text: str, leg: int = 0) -> Any:
        self.leg = leg
        if self.entries:
            self.used += 1
            return _entry(self.entries.pop(0))
        if self.ask is not None:
            answer = self.ask(prompt_text)
            if answer is None:
                return NO_MORE_KEYS
            self.used += 1
            return _entry(answer)
        return NO_MORE_KEYS


def _entry(entry: str | Spoken) -> str | Spoken:
    if isinstance(entry, Spoken):
        return entry
    return "" if entry.strip() in ("-", "") else entry.strip()


class CallerHungUp(Exception):
    pass


@dataclass
class CallResult:
    call_sid: str
    caller: str
    called: str
    events: list[Event]
    status: str = FINAL
    duration: int = 0
    ended_by: str = "twiml"  # twiml | caller | error

    def heard(self, leg: int | None = None) -> list[str]:
        return [e.text for e in self.events if e.kind == "say" and (leg is None or e.leg == leg)]


class TwilioSimulator:
    """Places calls like Twilio does, against a transport (in-process app or real HTTP)."""

    def __init__(
        self,
        transport: Transport,
        *,
        directory: dict[str, Destination] | None = None,
        auth_token: str | None = None,
        sign_base: str | None = None,
        clock: SimClock | None = None,
        account_sid: str = "AC" + "0" * 32,
        voice_url: str = "/voice",
        status_url: str = "/voice/status",
        queue_result: str = "bridged",
        on_before_end: Callable[[str], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ):
        self.transport = transport
        self.directory = directory or {}
        self.auth_token = auth_token
        self.sign_base = sign_base
        # Twilio knows absolute URLs only: the public base (or the transport's own) + paths.
        self.public_base = (sign_base or transport.base).rstrip("/") + "/"
        self.clock = clock or SimClock()
        self.account_sid = account_sid
        self.voice_url = voice_url
        self.status_url = status_url
        self.queue_result = queue_result
        self.on_before_end = on_before_end
        self.on_event = on_event
        self.prompts_answered = 0
        self.hangup_after: int | None = None
        self.application_error = False

    # -- placing calls --------------------------------------------------------------------

    def call(
        self,
        to: str,
        caller: str,
        keys: KeySource | None = None,
        *,
        hangup_after: int | None = None,
        call_sid: str | None = None,
    ) -> CallResult:
        self.prompts_answered = 0
        self.hangup_after = hangup_after
        self.application_error = False
        keys = keys or KeySource()
        sid = call_sid or _sid()
        events: list[Event] = EventLog(self.on_event)
        started = self.clock()
        result = CallResult(sid, caller, to, events)
        events.append(Event("leg_start", f"call from {caller or 'a withheld number'} to {to}"))
        try:
            self._leg(
                sid,
                caller,
                to,
                self.absolute(self.voice_url),
                keys,
                events,
                leg=0,
                direction="inbound",
            )
        except (CallerHungUp, KeyboardInterrupt):  # Ctrl-C in a terminal: the caller hangs up
            result.ended_by = "caller"
            events.append(Event("caller_hangup", "the caller hangs up"))
        if self.application_error:
            result.ended_by = "error"
        result.duration = int((self.clock() - started).total_seconds())
        if self.on_before_end is not None:
            self.on_before_end(sid)
        self._post(
            self.absolute(self.status_url),
            self._params(sid, caller, to, "inbound", FINAL, CallDuration=str(result.duration)),
        )
        events.append(Event("leg_end", "call ended"))
        return result

    def _leg(
        self,
        sid: str,
        caller: str,
        to: str,
        url: str,
        keys: KeySource,
        events: list[Event],
        *,
        leg: int,
        direction: str,
    ) -> None:
        """Request `url` and follow the TwiML until the leg hangs up."""
        params = self._params(sid, caller, to, direction, "ringing")
        document, url = self._fetch(url, params, events, leg)
        params["CallStatus"] = "in-progress"
        while document is not None:
            document, url = self._run(document, url, sid, caller, to, direction, keys, events, leg)

    def _fetch(
        self, url: str, params: dict[str, str], events: list[Event], leg: int
    ) -> tuple[ElementTree.Element | None, str]:
        status, body = self._post(url, params)
        if status >= 400 or not body.strip():
            events.append(Event("error", f"application error: {url} answered {status}", leg))
            self.application_error = True
            return None, url
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError as exc:
            events.append(Event("error", f"application error: {url} sent no TwiML ({exc})", leg))
            self.application_error = True
            return None, url
        if root.tag != "Response":
            events.append(Event("error", f"application error: <{root.tag}> is not TwiML", leg))
            self.application_error = True
            return None, url
        return root, url

    def _run(
        self,
        doc: ElementTree.Element,
        url: str,
        sid: str,
        caller: str,
        to: str,
        direction: str,
        keys: KeySource,
        events: list[Event],
        leg: int,
    ) -> tuple[ElementTree.Element | None, str]:
        """Run one document; returns the next document to run (None: the leg is over)."""

        def follow(target: str | None, **extra: str) -> tuple[Any, str]:
            next_url = urljoin(url, target) if target else url
            params = self._params(sid, caller, to, direction, "in-progress", **extra)
            document, _ = self._fetch(next_url, params, events, leg)
            return document, next_url

        for verb in doc:
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                self._speech(verb, events, leg)
            elif tag == "Gather":
                collected = self._gather(verb, keys, events, leg)
                if collected is not None:
                    return follow(verb.get("action"), **collected)
            elif tag == "Redirect":
                events.append(Event("redirect", (verb.text or "").strip(), leg))
                return follow((verb.text or "").strip() or None)
            elif tag == "Dial":
                extra = self._dial(verb, sid, caller, keys, events, leg)
                if verb.get("action"):
                    return follow(verb.get("action"), **extra)
            elif tag == "Enqueue":
                events.append(Event("enqueue", f"waits in queue {verb.text or ''}".strip(), leg))
                self.clock.advance(30)
                if verb.get("action"):
                    return follow(
                        verb.get("action"),
                        QueueResult=self.queue_result,
                        QueueSid="QU" + uuid.uuid4().hex,
                        QueueTime="30",
                    )
            elif tag == "Hangup":
                events.append(Event("hangup", "the call is hung up", leg))
                return None, url
            elif tag == "Reject":
                events.append(Event("hangup", "the call is rejected", leg))
                return None, url
            else:
                events.append(Event("error", f"verb <{tag}> is not simulated", leg))
        events.append(Event("hangup", "end of TwiML: the call is hung up", leg))
        return None, url

    # -- verbs ----------------------------------------------------------------------------

    def _speech(self, verb: ElementTree.Element, events: list[Event], leg: int) -> None:
        loop = int(verb.get("loop") or 1) or 1
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            events.append(
                Event(
                    "say", text, leg, {"voice": verb.get("voice"), "language": verb.get("language")}
                )
            )
            self.clock.advance(loop * max(1.0, len(text.split()) / 2.5))
        elif verb.tag == "Play":
            events.append(Event("play", (verb.text or "").strip(), leg))
            self.clock.advance(loop * 3)
        else:
            seconds = int(verb.get("length") or 1)
            events.append(Event("pause", f"{seconds}s", leg))
            self.clock.advance(seconds)

    def _gather(
        self, verb: ElementTree.Element, keys: KeySource, events: list[Event], leg: int
    ) -> dict[str, str] | None:
        """Play the prompts and collect keys (or speech); the parameters Twilio posts to the
        action, or None when nothing was collected and Twilio goes on with the next verb."""
        prompt_texts = []
        for child in verb:
            if child.tag in ("Say", "Play", "Pause"):
                self._speech(child, events, leg)
                if child.tag == "Say":
                    prompt_texts.append(" ".join((child.text or "").split()))
        num_digits = int(verb.get("numDigits") or 0)
        finish = verb.get("finishOnKey", "#")
        timeout = int(verb.get("timeout") or 5)
        events.append(
            Event(
                "prompt",
                "waits for keys",
                leg,
                {"num_digits": num_digits or None, "finish_on_key": finish, "timeout": timeout},
            )
        )
        if self.hangup_after is not None and self.prompts_answered >= self.hangup_after:
            raise CallerHungUp()
        entry = keys.next(" ".join(prompt_texts), leg)
        if entry is NO_MORE_KEYS:
            raise CallerHungUp()
        self.prompts_answered += 1
        if isinstance(entry, Spoken):
            return self._spoken(verb, entry, events, leg, timeout)
        digits, finished = "", ""
        for key in entry:
            if not re.fullmatch(r"[0-9*#]", key):
                continue
            if finish and key == finish:
                finished = key
                break
            digits += key
            if num_digits and len(digits) >= num_digits:
                break
        self.clock.advance(
            len(entry) * 0.5
            + (0 if finished or (num_digits and len(digits) >= num_digits) else timeout)
        )
        if digits:
            events.append(Event("keys", digits + finished, leg))
            return {"Digits": digits, "FinishedOnKey": finished}
        events.append(Event("no_input", "presses " + (finished if finished else "nothing"), leg))
        if (verb.get("actionOnEmptyResult") or "").lower() == "true":
            return {"Digits": "", "FinishedOnKey": finished}
        return None

    def _spoken(
        self, verb: ElementTree.Element, entry: Spoken, events: list[Event], leg: int, timeout: int
    ) -> dict[str, str] | None:
        """Words said at a prompt: SpeechResult where the `<Gather>` takes speech; where it
        takes keys only, Twilio hears nothing and the prompt times out."""
        inputs = (verb.get("input") or "dtmf").split()
        self.clock.advance(max(1.0, len(entry.text.split()) / 2.5))
        if "speech" not in inputs:
            events.append(
                Event("no_input", f'says "{entry.text}": this prompt takes keys only', leg)
            )
            self.clock.advance(timeout)
            if (verb.get("actionOnEmptyResult") or "").lower() == "true":
                return {"Digits": "", "FinishedOnKey": ""}
            return None
        events.append(Event("speech", entry.text, leg))
        return {"SpeechResult": entry.text, "Confidence": f"{entry.confidence:.2f}"}

    def _dial(
        self,
        verb: ElementTree.Element,
        sid: str,
        caller: str,
        keys: KeySource,
        events: list[Event],
        leg: int,
    ) -> dict[str, str]:
        caller_id = verb.get("callerId") or caller
        timeout = int(verb.get("timeout") or 30)
        targets = [(c.tag, (c.text or "").strip()) for c in verb] or [
            ("Number", (verb.text or "").strip())
        ]
        kind, number = targets[0]
        events.append(
            Event(
                "dial",
                f"dials {number}" + (f" presenting {caller_id}" if caller_id else ""),
                leg,
                {"number": number, "caller_id": caller_id, "record": verb.get("record")},
            )
        )
        child_sid = _sid()
        started = self.clock()
        destination = self.directory.get(number)
        if destination is not None and destination.url:
            status = "completed"
            events.append(Event("connected", f"connected to {number}", leg))
            try:
                self._leg(
                    child_sid,
                    caller_id,
                    number,
                    self.absolute(destination.url),
                    keys,
                    events,
                    leg=leg + 1,
                    direction="inbound",
                )
            except CallerHungUp:
                self._child_status(destination, child_sid, caller_id, number, started)
                raise
            self._child_status(destination, child_sid, caller_id, number, started)
        else:
            status = destination.answer if destination else "completed"
            if status == "completed":
                talk = destination.talk_seconds if destination else 60
                talk = min(talk, int(verb.get("timeLimit") or 14400))
                events.append(Event("connected", f"connected to {number}; talks for {talk}s", leg))
                self.clock.advance(talk)
            else:
                self.clock.advance(timeout if status == "no-answer" else 2)
        duration = int((self.clock() - started).total_seconds()) if status == "completed" else 0
        events.append(
            Event("dial_result", f"the transferred leg ends: {status}", leg, {"status": status})
        )
        return {
            "DialCallStatus": status,
            "DialCallSid": child_sid,
            "DialCallDuration": str(duration),
        }

    def _child_status(
        self,
        destination: Destination,
        child_sid: str,
        caller_id: str,
        number: str,
        started: datetime,
    ) -> None:
        duration = int((self.clock() - started).total_seconds())
        if destination.status_url:
            self._post(
                self.absolute(destination.status_url),
                self._params(
                    child_sid, caller_id, number, "inbound", FINAL, CallDuration=str(duration)
                ),
            )

    # -- requests -------------------------------------------------------------------------

    def _params(
        self, sid: str, caller: str, to: str, direction: str, status: str, **extra: str
    ) -> dict[str, str]:
        params = {
            "CallSid": sid,
            "AccountSid": self.account_sid,
            "From": caller or "anonymous",
            "To": to,
            "Caller": caller or "anonymous",
            "Called": to,
            "CallStatus": status,
            "Direction": direction,
            "ApiVersion": "2010-04-01",
        }
        params.update(extra)
        return params

    def absolute(self, url: str) -> str:
        """A configured path ("/voice") under the public base, or an absolute URL as is."""
        return urljoin(self.public_base, url.lstrip("/")) if not urlsplit(url).scheme else url

    def _post(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """POST to an absolute URL (as Twilio does), signed for exactly that URL."""
        headers = {}
        if self.auth_token:
            from twilio.request_validator import RequestValidator

            headers["X-Twilio-Signature"] = RequestValidator(self.auth_token).compute_signature(
                url, params
            )
        local = url[len(self.public_base) - 1 :] if url.startswith(self.public_base) else url
        return self.transport.post(local, params, headers)


def _sid() -> str:
    return "CA" + uuid.uuid4().hex
