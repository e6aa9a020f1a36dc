"""A stand-in for Twilio: places a call against the webhooks and follows the TwiML it gets back.

It reproduces the rules in twilio-voice.md: verbs in order, end of document hangs up,
`<Gather>` with numDigits / finishOnKey / timeout / actionOnEmptyResult, `<Redirect>`,
`<Dial>` with `action` (a child leg for our own numbers, e.g. the PCI bridge), `<Enqueue>`,
`<Hangup>`, signed requests, and status callbacks. Time is simulated: nothing waits.

A call is a `CallState` (plain data: it can be kept between web requests, as the console's
softphone does) that runs until a `<Gather>` waits for the caller, then resumes with what the
caller entered; `call` runs a whole call with a `KeySource` answering every prompt.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

from ivr.phone.transport import Transport

FINAL = "completed"
NO_MORE_KEYS = object()


class Destination(Protocol):
    """A number the simulator can dial (`ivr.app.settings.Destination`): one of our own,
    answered at `url`, or an outside line answering with `answer` after `talk_seconds`."""

    @property
    def url(self) -> str | None: ...
    @property
    def status_url(self) -> str | None: ...
    @property
    def answer(self) -> str: ...
    @property
    def talk_seconds(self) -> int: ...


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
WORDS_PER_SECOND = 2.5  # 150 words a minute
PLAY_SECONDS = 3.0  # an audio file, as the simulator counts it


def speaking_seconds(text: str) -> float:
    """How long text-to-speech takes to say `text` (at least a second)."""
    return max(1.0, len(text.split()) / WORDS_PER_SECOND)


# "press" in the languages we ship: English, Welsh (pwyswch) and Spanish (pulse, marque)
PRESS_WORDS = r"(?:press(?:ing)?|pwyswch|pulse|marque)"
_PRESS = re.compile(rf"\b{PRESS_WORDS}\b", re.IGNORECASE)


@functools.lru_cache(maxsize=16)
def _mentions(key: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Where a prompt offers `key`: "press 2", and (after a first "press") a choice listed
    as "One bill, 2." (a word, a comma, the key, the end of the sentence)."""
    word = {"*": r"(?:star|seren|\*)", "#": r"(?:hash|pound|#)"}.get(key, re.escape(key))
    said = re.compile(rf"\b{PRESS_WORDS}\s+(?:the\s+)?{word}(?![0-9])", re.IGNORECASE)
    listed = re.compile(rf"(?<=[A-Za-z]),\s*{word}(?=[.;](?:\s|$))", re.IGNORECASE)
    return said, listed


def _offer(text: str, key: str) -> re.Match[str] | None:
    said, listed = _mentions(key)
    found = said.search(text)
    if found is not None:
        return found
    first = _PRESS.search(text)
    return listed.search(text, first.end()) if first is not None else None


def heard_seconds(parts: list[tuple[str, float, int]] | list[list[Any]], key: str) -> float:
    """Seconds of a prompt (its parts: words, seconds, and how many times each is played)
    heard before the caller presses `key`: up to the end of the sentence that offers it
    ("press 2", or "One bill, 2." in a list of choices), on its first playing; or all of it
    (no key, or a prompt that never offers it: the caller listens to the end before keying
    an answer)."""
    total = sum(float(part[1]) for part in parts)
    if not key:
        return total
    so_far = 0.0
    for part in parts:
        text, seconds = part[0], float(part[1])
        loop = int(part[2]) if len(part) > 2 else 1
        m = _offer(text, key) if text else None
        if m is not None:
            end = re.search(r"[.!?](?:\s|$)", text[m.end() :])
            upto = m.end() + (end.end() if end else len(text) - m.end())
            share = len(text[:upto].split()) / max(1, len(text.split()))
            return so_far + seconds / max(1, loop) * share
        so_far += seconds
    return total


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


@dataclass
class CallResult:
    call_sid: str
    caller: str
    called: str
    events: list[Event]
    status: str = FINAL
    duration: int = 0
    ended_by: str = "twiml"  # twiml | caller | error
    entries: int = 0  # prompts the caller answered with keys or words
    prompt_seconds: float = 0.0  # seconds of prompts the caller listened to

    def heard(self, leg: int | None = None) -> list[str]:
        return [e.text for e in self.events if e.kind == "say" and (leg is None or e.leg == leg)]


@dataclass
class Leg:
    """One leg of a call as Twilio runs it: the TwiML document it is in and the next verb."""

    sid: str
    caller: str
    to: str
    direction: str
    url: str
    document: str | None = None  # None: the leg has hung up
    at: int = 0  # the next verb of `document`
    dialling: dict[str, str] | None = None  # the <Dial> whose child leg runs above this one


@dataclass
class Waiting:
    """A `<Gather>` waiting for the caller: its attributes and what it said."""

    leg: int
    gather: dict[str, str]
    prompt: str
    parts: list[tuple[str, float, int]] = field(default_factory=list)  # words, seconds, loop

    @property
    def num_digits(self) -> int:
        return int(self.gather.get("numDigits") or 0)

    @property
    def finish_on_key(self) -> str:
        return self.gather.get("finishOnKey", "#")

    @property
    def timeout(self) -> int:
        return int(self.gather.get("timeout") or 5)

    @property
    def inputs(self) -> list[str]:
        return (self.gather.get("input") or "dtmf").split()


@dataclass
class CallState:
    """A call in progress, as plain data (`as_dict`/`from_dict` keep it between requests)."""

    sid: str
    caller: str
    to: str
    started: str  # ISO time on the simulator's clock
    legs: list[Leg] = field(default_factory=list)
    waiting: Waiting | None = None
    prompts_answered: int = 0
    application_error: bool = False
    ended_by: str | None = None  # None while the call is in progress: twiml | caller | error
    duration: int = 0
    direction: str = "inbound"  # outbound-api: placed through the REST API
    entries: int = 0  # prompts answered with keys or words
    prompt_seconds: float = 0.0  # seconds of prompts heard (cut short by barge-in)
    status_url: str | None = None  # the call's status callback (None: the simulator's own)
    answered_by: str | None = None  # answering machine detection's verdict (human, machine_*)

    @property
    def ended(self) -> bool:
        return self.ended_by is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CallState:
        waiting = raw.get("waiting")
        return cls(
            **{
                **raw,
                "legs": [Leg(**leg) for leg in raw.get("legs", [])],
                "waiting": Waiting(**waiting) if waiting else None,
            }
        )


@dataclass(frozen=True)
class OutboundCall:
    """A call placed through the REST API (`calls.create`): who is called, from which
    number, the TwiML URL to request when it is answered, and its status callback."""

    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None = None
    machine_detection: str | None = None


class TwilioSimulator:
    """Places calls like Twilio does, against a transport (in-process app or real HTTP)."""

    def __init__(
        self,
        transport: Transport,
        *,
        directory: Mapping[str, Destination] | None = None,
        auth_token: str | None = None,
        sign_base: str | None = None,
        clock: SimClock | None = None,
        account_sid: str = "AC" + "0" * 32,
        voice_url: str = "/voice",
        status_url: str = "/voice/status",
        queue_result: str = "bridged",
        on_before_end: Callable[[str], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        barge_in: bool = True,
    ):
        self.transport = transport
        # A key pressed while a <Gather>'s prompt plays stops it (Twilio's way); without
        # barge-in every prompt is heard to the end (the worst case).
        self.barge_in = barge_in
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
        self._parsed: tuple[str, ElementTree.Element] | None = None

    # -- a whole call ---------------------------------------------------------------------

    def call(
        self,
        to: str,
        caller: str,
        keys: KeySource | None = None,
        *,
        hangup_after: int | None = None,
        call_sid: str | None = None,
    ) -> CallResult:
        """Run a whole call, `keys` answering each prompt; the caller hangs up after
        `hangup_after` answers, or when the keys run out at a prompt."""
        keys = keys or KeySource()
        events: list[Event] = EventLog(self.on_event)
        state = CallState(call_sid or _sid(), caller, to, self.clock().isoformat())
        try:
            self._ring(state, events)
            while state.waiting is not None:
                if hangup_after is not None and state.prompts_answered >= hangup_after:
                    self.hang_up(state, events)
                    break
                entry = keys.next(state.waiting.prompt, state.waiting.leg)
                if entry is NO_MORE_KEYS:
                    self.hang_up(state, events)
                    break
                self.answer(state, entry, events)
        except KeyboardInterrupt:  # Ctrl-C in a terminal: the caller hangs up
            self.hang_up(state, events)
        return CallResult(
            state.sid,
            caller,
            to,
            events,
            duration=state.duration,
            ended_by=state.ended_by or "twiml",
            entries=state.entries,
            prompt_seconds=round(state.prompt_seconds, 1),
        )

    # -- a call step by step --------------------------------------------------------------

    def begin(
        self, to: str, caller: str, events: list[Event], *, call_sid: str | None = None
    ) -> CallState:
        """Ring `to` from `caller` and run the call until a prompt waits (or it ends)."""
        state = CallState(call_sid or _sid(), caller, to, self.clock().isoformat())
        self._ring(state, events)
        return state

    def begin_outbound(
        self,
        placed: OutboundCall,
        answered_by: str,
        events: list[Event],
    ) -> CallState:
        """A call placed through the REST API has been answered (by a person, `human`, or
        a machine, `machine_end_beep`...): Twilio requests its `url` with `AnsweredBy`, and the
        call runs until a prompt waits (or it ends)."""
        state = CallState(
            placed.sid,
            placed.from_,
            placed.to,
            self.clock().isoformat(),
            direction="outbound-api",
            status_url=placed.status_callback,
            answered_by=answered_by,
        )
        events.append(Event("leg_start", f"call from {placed.from_} to {placed.to}"))
        leg = Leg(placed.sid, placed.from_, placed.to, "outbound-api", placed.url)
        state.legs.append(leg)
        params = self._params(
            placed.sid, placed.from_, placed.to, leg.direction, "in-progress",
            AnsweredBy=answered_by,
        )  # fmt: skip
        leg.document = self._fetch(state, placed.url, params, events, 0)
        self._proceed(state, events)
        return state

    def not_answered(self, placed: OutboundCall, status: str, events: list[Event]) -> None:
        """A call placed through the REST API that nobody answered (`no-answer`, `busy`,
        `failed`): Twilio requests no TwiML, only the status callback."""
        events.append(Event("leg_start", f"call from {placed.from_} to {placed.to}"))
        if placed.status_callback:
            self._post(
                placed.status_callback,
                self._params(placed.sid, placed.from_, placed.to, "outbound-api", status,
                             CallDuration="0"),
            )  # fmt: skip
        events.append(Event("leg_end", f"call not answered: {status}"))

    def _ring(self, state: CallState, events: list[Event]) -> None:
        caller = state.caller or "a withheld number"
        events.append(Event("leg_start", f"call from {caller} to {state.to}"))
        self._open_leg(
            state, state.sid, state.caller, state.to, self.absolute(self.voice_url), events
        )
        self._proceed(state, events)

    def answer(self, state: CallState, entry: str | Spoken, events: list[Event]) -> None:
        """The caller's entry at the waiting prompt (keys, "" for none, or `Spoken` words);
        the call runs on until the next prompt waits (or it ends)."""
        waiting = state.waiting
        if waiting is None:
            raise ValueError("no prompt is waiting for the caller")
        state.waiting = None
        state.prompts_answered += 1
        self._listen(state, waiting, entry)
        leg = state.legs[waiting.leg]
        if isinstance(entry, Spoken):
            collected = self._spoken(waiting, entry, events)
        else:
            collected = self._keys(waiting, entry, events)
        if collected is not None and (collected.get("Digits") or collected.get("SpeechResult")):
            state.entries += 1  # what the caller gave was taken (a timeout, or words at a
            # prompt that takes keys, is not an entry)
        if collected is not None:
            self._follow(state, leg, waiting.gather.get("action"), events, **collected)
        self._proceed(state, events)

    def hang_up(self, state: CallState, events: list[Event]) -> None:
        """The caller hangs up: every leg still up ends, then the call."""
        if state.ended:
            return
        if state.waiting is not None:  # the caller heard the prompt out, then hung up
            self._listen(state, state.waiting, "")
        state.waiting = None
        while len(state.legs) > 1:
            state.legs.pop()
            parent = state.legs[-1]
            if parent.dialling is not None:
                self._child_status(parent.dialling)
                parent.dialling = None
        state.legs.clear()
        state.ended_by = "caller"
        events.append(Event("caller_hangup", "the caller hangs up"))
        self._end(state, events)

    # -- running TwiML --------------------------------------------------------------------

    def _open_leg(
        self, state: CallState, sid: str, caller: str, to: str, url: str, events: list[Event]
    ) -> None:
        leg = Leg(sid, caller, to, "inbound", url)
        state.legs.append(leg)
        params = self._params(sid, caller, to, leg.direction, "ringing")
        leg.document = self._fetch(state, url, params, events, len(state.legs) - 1)

    def _follow(
        self, state: CallState, leg: Leg, target: str | None, events: list[Event], **extra: str
    ) -> None:
        """Request the next document of `leg` (its own URL again when `target` is None)."""
        next_url = urljoin(leg.url, target) if target else leg.url
        params = self._params(leg.sid, leg.caller, leg.to, leg.direction, "in-progress", **extra)
        leg.document = self._fetch(state, next_url, params, events, state.legs.index(leg))
        leg.url, leg.at = next_url, 0

    def _proceed(self, state: CallState, events: list[Event]) -> None:
        """Run verbs until a prompt waits for the caller or the last leg hangs up."""
        while state.legs and state.waiting is None:
            leg = state.legs[-1]
            number = len(state.legs) - 1
            if leg.document is None:
                self._leg_over(state, events)
                continue
            verbs = list(self._parse(leg.document))
            if leg.at >= len(verbs):
                events.append(Event("hangup", "end of TwiML: the call is hung up", number))
                leg.document = None
                continue
            verb = verbs[leg.at]
            leg.at += 1
            self._verb(state, leg, number, verb, events)
        if not state.legs and not state.ended:
            state.ended_by = "error" if state.application_error else "twiml"
            self._end(state, events)

    def _verb(
        self,
        state: CallState,
        leg: Leg,
        number: int,
        verb: ElementTree.Element,
        events: list[Event],
    ) -> None:
        tag = verb.tag
        if tag in ("Say", "Play", "Pause"):
            _, seconds = self._speech(verb, events, number)
            self.clock.advance(seconds)
            state.prompt_seconds += seconds
        elif tag == "Gather":
            spoken = [self._speech(child, events, number) for child in verb]
            parts = [
                (text, seconds, int(child.get("loop") or 1) or 1)
                for (text, seconds), child in zip(spoken, verb, strict=True)
            ]
            waiting = Waiting(number, dict(verb.attrib), " ".join(t for t, _ in spoken if t), parts)
            events.append(
                Event(
                    "prompt",
                    "waits for keys",
                    number,
                    {
                        "num_digits": waiting.num_digits or None,
                        "finish_on_key": waiting.finish_on_key,
                        "timeout": waiting.timeout,
                    },
                )
            )
            state.waiting = waiting
        elif tag == "Redirect":
            target = (verb.text or "").strip()
            events.append(Event("redirect", target, number))
            self._follow(state, leg, target or None, events)
        elif tag == "Dial":
            self._dial(state, leg, number, verb, events)
        elif tag == "Enqueue":
            events.append(Event("enqueue", f"waits in queue {verb.text or ''}".strip(), number))
            self.clock.advance(30)
            if verb.get("action"):
                queued = {"QueueSid": "QU" + uuid.uuid4().hex, "QueueTime": "30"}
                self._follow(
                    state, leg, verb.get("action"), events, QueueResult=self.queue_result, **queued
                )
        elif tag in ("Hangup", "Reject"):
            said = "hung up" if tag == "Hangup" else "rejected"
            events.append(Event("hangup", f"the call is {said}", number))
            leg.document = None
        else:
            events.append(Event("error", f"verb <{tag}> is not simulated", number))

    def _leg_over(self, state: CallState, events: list[Event]) -> None:
        """The top leg has hung up: the `<Dial>` that opened it (if any) goes on."""
        state.legs.pop()
        if not state.legs:
            return
        parent = state.legs[-1]
        dialling, parent.dialling = parent.dialling, None
        if dialling is None:
            return
        self._child_status(dialling)
        started = datetime.fromisoformat(dialling["started"])
        duration = int((self.clock() - started).total_seconds())
        self._dialled(state, parent, dialling, "completed", duration, events)

    def _end(self, state: CallState, events: list[Event]) -> None:
        if state.application_error:
            state.ended_by = "error"
        state.duration = int((self.clock() - datetime.fromisoformat(state.started)).total_seconds())
        if self.on_before_end is not None:
            self.on_before_end(state.sid)
        extra = {"AnsweredBy": state.answered_by} if state.answered_by else {}
        self._post(
            self.absolute(state.status_url or self.status_url),
            self._params(
                state.sid,
                state.caller,
                state.to,
                state.direction,
                FINAL,
                CallDuration=str(state.duration),
                **extra,
            ),
        )
        events.append(Event("leg_end", "call ended"))

    def _fetch(
        self, state: CallState, url: str, params: dict[str, str], events: list[Event], leg: int
    ) -> str | None:
        """The TwiML `url` answers (None, and an application error, when it is not TwiML)."""
        status, body = self._post(url, params)
        if status >= 400 or not body.strip():
            events.append(Event("error", f"application error: {url} answered {status}", leg))
            state.application_error = True
            return None
        try:
            root = self._parse(body)
        except ElementTree.ParseError as exc:
            events.append(Event("error", f"application error: {url} sent no TwiML ({exc})", leg))
            state.application_error = True
            return None
        if root.tag != "Response":
            events.append(Event("error", f"application error: <{root.tag}> is not TwiML", leg))
            state.application_error = True
            return None
        return body

    def _parse(self, document: str) -> ElementTree.Element:
        if self._parsed is None or self._parsed[0] != document:
            self._parsed = (document, ElementTree.fromstring(document))
        return self._parsed[1]

    # -- verbs ----------------------------------------------------------------------------

    def _speech(
        self, verb: ElementTree.Element, events: list[Event], leg: int
    ) -> tuple[str, float]:
        """Say, play or pause: the words said and how long it lasts (the caller's side
        advances the clock: a `<Gather>`'s prompt may be cut short)."""
        loop = int(verb.get("loop") or 1) or 1
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            events.append(
                Event(
                    "say", text, leg, {"voice": verb.get("voice"), "language": verb.get("language")}
                )
            )
            return text, loop * speaking_seconds(text)
        if verb.tag == "Play":
            events.append(Event("play", (verb.text or "").strip(), leg))
            return "", loop * PLAY_SECONDS
        if verb.tag == "Pause":
            seconds = int(verb.get("length") or 1)
            events.append(Event("pause", f"{seconds}s", leg))
            return "", float(seconds)
        return "", 0.0

    def _listen(self, state: CallState, waiting: Waiting, entry: str | Spoken) -> None:
        """The caller listens to the waiting prompt until they answer: to its end, or (with
        barge-in) to the end of the sentence that says the first key they press."""
        key = entry[:1] if isinstance(entry, str) and KEYS.match(entry[:1]) else ""
        seconds = heard_seconds(waiting.parts, key if self.barge_in else "")
        self.clock.advance(seconds)
        state.prompt_seconds += seconds

    def _keys(self, waiting: Waiting, entry: str, events: list[Event]) -> dict[str, str] | None:
        """Keys pressed at a prompt: the parameters Twilio posts to the action, or None when
        nothing was collected and Twilio goes on with the next verb."""
        num_digits, finish = waiting.num_digits, waiting.finish_on_key
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
        complete = finished or (num_digits and len(digits) >= num_digits)
        self.clock.advance(len(entry) * 0.5 + (0 if complete else waiting.timeout))
        if digits:
            events.append(Event("keys", digits + finished, waiting.leg))
            return {"Digits": digits, "FinishedOnKey": finished}
        said = "presses " + (finished if finished else "nothing")
        events.append(Event("no_input", said, waiting.leg))
        if waiting.gather.get("actionOnEmptyResult", "").lower() == "true":
            return {"Digits": "", "FinishedOnKey": finished}
        return None

    def _spoken(
        self, waiting: Waiting, entry: Spoken, events: list[Event]
    ) -> dict[str, str] | None:
        """Words said at a prompt: SpeechResult where the `<Gather>` takes speech; where it
        takes keys only, Twilio hears nothing and the prompt times out."""
        self.clock.advance(max(1.0, len(entry.text.split()) / 2.5))
        if "speech" not in waiting.inputs:
            events.append(
                Event("no_input", f'says "{entry.text}": this prompt takes keys only', waiting.leg)
            )
            self.clock.advance(waiting.timeout)
            if waiting.gather.get("actionOnEmptyResult", "").lower() == "true":
                return {"Digits": "", "FinishedOnKey": ""}
            return None
        events.append(Event("speech", entry.text, waiting.leg))
        return {"SpeechResult": entry.text, "Confidence": f"{entry.confidence:.2f}"}

    def _dial(
        self,
        state: CallState,
        leg: Leg,
        number: int,
        verb: ElementTree.Element,
        events: list[Event],
    ) -> None:
        caller_id = verb.get("callerId") or leg.caller
        timeout = int(verb.get("timeout") or 30)
        targets = [(c.tag, (c.text or "").strip()) for c in verb] or [
            ("Number", (verb.text or "").strip())
        ]
        _kind, dialled = targets[0]
        events.append(
            Event(
                "dial",
                f"dials {dialled}" + (f" presenting {caller_id}" if caller_id else ""),
                number,
                {"number": dialled, "caller_id": caller_id, "record": verb.get("record")},
            )
        )
        dialling = {
            "number": dialled,
            "caller_id": caller_id,
            "child_sid": _sid(),
            "started": self.clock().isoformat(),
            "action": verb.get("action") or "",
        }
        destination = self.directory.get(dialled)
        if destination is not None and destination.url:
            events.append(Event("connected", f"connected to {dialled}", number))
            leg.dialling = dialling
            self._open_leg(
                state,
                dialling["child_sid"],
                caller_id,
                dialled,
                self.absolute(destination.url),
                events,
            )
            return
        status = destination.answer if destination else "completed"
        if status == "completed":
            talk = destination.talk_seconds if destination else 60
            talk = min(talk, int(verb.get("timeLimit") or 14400))
            events.append(Event("connected", f"connected to {dialled}; talks for {talk}s", number))
            self.clock.advance(talk)
            duration = talk
        else:
            self.clock.advance(timeout if status == "no-answer" else 2)
            duration = 0
        self._dialled(state, leg, dialling, status, duration, events)

    def _dialled(
        self,
        state: CallState,
        leg: Leg,
        dialling: dict[str, str],
        status: str,
        duration: int,
        events: list[Event],
    ) -> None:
        """The dialled leg has ended: the `<Dial>`'s action hears how."""
        number = state.legs.index(leg)
        events.append(
            Event("dial_result", f"the transferred leg ends: {status}", number, {"status": status})
        )
        if dialling["action"]:
            self._follow(
                state,
                leg,
                dialling["action"],
                events,
                DialCallStatus=status,
                DialCallSid=dialling["child_sid"],
                DialCallDuration=str(duration),
            )

    def _child_status(self, dialling: dict[str, str]) -> None:
        destination = self.directory.get(dialling["number"])
        if destination is None or not destination.status_url:
            return
        started = datetime.fromisoformat(dialling["started"])
        duration = int((self.clock() - started).total_seconds())
        self._post(
            self.absolute(destination.status_url),
            self._params(
                dialling["child_sid"],
                dialling["caller_id"],
                dialling["number"],
                "inbound",
                FINAL,
                CallDuration=str(duration),
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

    def callback(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """POST a callback of Twilio's other APIs (a text's delivery report) as it does:
        to `url` (a path under the public base, or absolute), signed."""
        return self._post(self.absolute(url), params)

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
