"""The engine: the sans-IO turn API that runs one call plan instance per call.

Each webhook is one event in (`start_call`, `keys`, `dial_ended`, `queue_left`, `end_call`) and
one `Turn` out (what the caller hears and does next). Applets run until one needs the caller
(at most `max_steps` per turn); a repeated event for a turn already handled is answered from the
saved response without running anything; unrouted outcomes and applet errors go to the plan's
`fallback`; a call keeps the plan version it started with; a call record is written when the
call ends. No Flask, no globals: the web app, the simulator and tests call this object.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from foundation.clock import utc_now
from foundation.phone import presented_clid
from ivr.engine.actions import Action, Hangup, Say, Turn, from_dict, said, to_dict
from ivr.engine.catalog import Catalog
from ivr.engine.compiler import CompiledPlan
from ivr.engine.display import heard_safely, is_sensitive, keyed, said_safely, shown
from ivr.engine.loader import load_text
from ivr.engine.observer import NullObserver, Observer
from ivr.engine.protocol import (
    TURN_BUDGET,
    Ask,
    Decision,
    DialEnded,
    End,
    Event,
    Jump,
    Keys,
    NoInput,
    QueueLeft,
    Speech,
)
from ivr.engine.records import CallRecord, Line, MemoryRecorder, PathStep, Recorder
from ivr.engine.runtime import CallContext
from ivr.engine.session import Session
from ivr.engine.stores import MemoryStore, SessionStore
from ivr.engine.stores.base import Slot
from ivr.errors import PlanNotFound, SessionLost
from ivr.lang.languages import engine_words

log = logging.getLogger("ivr.engine")

APOLOGY = "Sorry, we cannot continue with your call right now. Please call back later. Goodbye."
SHORT_APOLOGY = "Sorry, something went wrong."
# A repeated webhook waits for the first delivery's turn (which may take a data connector's
# whole 14 s budget) rather than giving up first and answering something else.
LOCK_WAIT = 20.0
PLAN_SOURCE_TTL = 7 * 24 * 3600
MAX_TRANSCRIPT = 400  # lines a call's transcript keeps
HUNG_UP = "(hung up)"


def env_secrets(extra: dict[str, str] | None = None) -> Callable[[str], str | None]:
    """Secrets from the environment, then from `extra` (config.yaml's secrets section)."""
    extra = dict(extra or {})
    return lambda name: os.environ.get(name, extra.get(name))


class CallLog(logging.LoggerAdapter):
    """Prefixes every message with the call sid, plan and applet (bound once per webhook)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        ctx = self.extra or {}
        return f"[{ctx.get('call_sid')} {ctx.get('plan')}/{ctx.get('applet')}] {msg}", kwargs


class Engine:
    """Runs calls. Inject the store, HTTP session, clock, secrets and recorder."""

    def __init__(
        self,
        catalog: Catalog,
        store: SessionStore | None = None,
        *,
        http: requests.Session | None = None,
        clock: Callable[[], datetime] = utc_now,
        secrets: Callable[[str], str | None] | None = None,
        recorder: Recorder | None = None,
        session_ttl: int = 4 * 3600,
        ended_ttl: int = 600,
        max_steps: int = 100,
        apology: str = APOLOGY,
        data: dict[str, Any] | None = None,
        turn_budget: float = TURN_BUDGET,
    ):
        self.catalog = catalog
        self.store: SessionStore = store if store is not None else MemoryStore()
        self.http = http if http is not None else requests.Session()
        self.clock = clock
        self.secrets = secrets or env_secrets()
        self.recorder: Recorder = recorder if recorder is not None else MemoryRecorder()
        self.session_ttl = session_ttl
        self.ended_ttl = ended_ttl
        self.max_steps = max_steps
        self.apology = apology
        self.data = dict(data or {})  # deployment-wide data sources, over plan constants
        self.observer: Observer = NullObserver()  # metrics, when the composition root sets one
        # a pinned version this process has not loaded: its text by (plan id, version)
        self.plan_sources: Callable[[str, str], str | None] | None = None
        self._queues_records = bool(getattr(store, "queues_records", False))
        self.turn_budget = turn_budget  # seconds for everything one webhook does
        self.test_calls = False  # records say test calls (the console's softphone system)

    # -- events ---------------------------------------------------------------------------

    def start_call(
        self,
        call_sid: str,
        *,
        caller: str = "",
        called: str = "",
        plan_id: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Turn:
        """A new call: pick the plan by `plan_id` or the dialled number, run to the first ask.
        `data`: the call's own data sources (an outbound call's case), over the plan's and the
        deployment's; the built-in ones (CLID, CallSid...) win over all.

        Raises PlanNotFound when no plan answers the number (the web app says so politely).
        """
        deadline = time.monotonic() + self.turn_budget
        with self.store.session(call_sid, LOCK_WAIT) as slot:
            existing = _load(slot)
            if existing is not None:
                return self._saved(existing)
            compiled = self.catalog.current(plan_id) if plan_id else self.catalog.for_number(called)
            if compiled is None:
                raise PlanNotFound(f"no plan answers {called or 'this number'}")
            self._publish(compiled)
            now = self.clock()
            clid = presented_clid(caller)
            session = Session(
                call_sid,
                compiled.id,
                compiled.version,
                started_at=now.isoformat(),
                caller=clid,
                called=called,
                applet=compiled.plan.start,
            )
            plan = compiled.plan
            session.data = {
                **plan.data,
                **self.data,
                **(data or {}),
                "CLID": clid,
                "DDI": called,
                "CallSid": call_sid,
                "PlanId": plan.id,
                "InteractionStartTime": now.astimezone(UTC).isoformat(timespec="seconds"),
                "Language": _first_language(
                    compiled, (data or {}).get("Language") or self.data.get("Language")
                ),
                "InteractionOutcome": "",
                "Today": now.astimezone(ZoneInfo(plan.defaults.timezone)).date().isoformat(),
            }
            self.observer.call_started(plan.id)
            return self._run(slot, session, compiled, None, deadline)

    def keys(
        self,
        call_sid: str,
        turn: int,
        digits: str | None,
        finished_on_key: str = "",
        speech: str | None = None,
        confidence: float = 0.0,
    ) -> Turn:
        """The caller answered a prompt with keys or words (neither: no input)."""
        event: Event
        if digits:
            event = Keys(digits, finished_on_key)
        elif speech and speech.strip():
            event = Speech(speech.strip(), confidence)
        else:
            event = NoInput()
        return self.handle(call_sid, turn, event)

    def dial_ended(self, call_sid: str, turn: int, status: str, duration: int = 0) -> Turn:
        """A transfer leg ended with Twilio's DialCallStatus."""
        return self.handle(call_sid, turn, DialEnded(status or "failed", duration))

    def queue_left(self, call_sid: str, turn: int, result: str) -> Turn:
        return self.handle(call_sid, turn, QueueLeft(result))

    def handle(self, call_sid: str, turn: int, event: Event) -> Turn:
        """Resume the waiting applet with `event`, unless this turn was already answered."""
        deadline = time.monotonic() + self.turn_budget
        with self.store.session(call_sid, LOCK_WAIT) as slot:
            session = _load(slot)
            if session is None:
                raise SessionLost(
                    f"[{call_sid}] event for a call whose session is gone "
                    "(expired, or the store lost it)"
                )
            if (
                session.ended
                and session.awaiting_dial
                and turn == session.turn
                and isinstance(event, DialEnded)
            ):
                return self._after_hang_up(slot, session, event, deadline)
            if session.ended or turn != session.turn or not _fits(session.waiting, event):
                return self._saved(session)
            compiled = self._compiled(session.plan_id, session.plan_version)
            return self._run(slot, session, compiled, event, deadline)

    def _after_hang_up(self, slot: Slot, s: Session, event: DialEnded, deadline: float) -> Turn:
        """The dial action arrived after the status callback: finish the plan's work for a
        caller who is gone (so the record is the same whatever the order) and record again."""
        if s.history and s.history[-1][1] == "caller_hung_up":
            s.history.pop()
            if s.transcript and s.transcript[-1][2] == HUNG_UP:
                s.transcript.pop()  # said again where it happened, after the transfer
        s.awaiting_dial = False
        s.caller_gone = True
        s.recorded = False
        s.ended_at = None
        return self._run(slot, s, self._compiled(s.plan_id, s.plan_version), event, deadline)

    def end_call(self, call_sid: str, status: str = "completed") -> CallRecord | None:
        """The status callback: the call is over. Writes the call record once (returns it
        when written now)."""
        return self.end_call_known(call_sid, status)[1]

    def end_call_known(
        self, call_sid: str, status: str = "completed"
    ) -> tuple[bool, CallRecord | None]:
        """As end_call, also saying whether the call's session was there at all (False: it
        expired or the store lost it, and the call may never have been recorded)."""
        with self.store.session(call_sid, LOCK_WAIT) as slot:
            session = _load(slot)
            if session is None:
                return False, None
            record = None
            if not session.recorded:
                if not session.ended:
                    session.ended_at = self.clock().isoformat()
                    session.response = [to_dict(Hangup())]
                    if session.applet:
                        session.history.append(
                            [session.applet, "caller_hung_up", session.ended_at, session.plan_id,
                             {}]
                        )  # fmt: skip
                        session.transcript.append([session.ended_at, "caller", HUNG_UP])
                    # A transfer's action may still come after this callback: it tells how
                    # the transfer went, and the record is then written again from it.
                    session.awaiting_dial = session.waiting == "dial"
                session.end_status = status
                record = self._record(session, slot)
            if session.recorded and session.awaiting_dial:
                self._save(slot, session)  # kept (briefly) for that late action
            elif session.recorded:
                slot.delete()  # the call is over: the session goes
            else:
                self._save(slot, session)  # kept so a repeated status callback can retry
            return True, record

    def session(self, call_sid: str) -> Session | None:
        """The stored session of a call (for tools and tests)."""
        text = self.store.get(call_sid)
        return Session.from_json(text) if text else None

    # -- the turn loop --------------------------------------------------------------------

    def _run(
        self, slot: Slot, s: Session, compiled: CompiledPlan, event: Event | None, deadline: float
    ) -> Turn:
        """Run applets until one asks or the call ends; web calls share the turn's budget
        (`deadline`, monotonic seconds, from the webhook's arrival)."""
        actions: list[Action] = []
        s.watch_data()  # the record keeps what each step set
        if event is not None:
            self._heard_caller(s, compiled, event)
        ctx = self._context(s, compiled, deadline)
        steps = 0
        errored = False
        resume = event is not None
        while True:
            assert s.applet is not None
            ctx.state = s.state
            ctx.log.extra = {"call_sid": s.call_sid, "plan": s.plan_id, "applet": s.applet}
            applet = compiled.applets[s.applet]
            try:
                decision: Decision = (
                    applet.resume(ctx, event) if resume and event is not None else applet.enter(ctx)
                )
            except Exception:
                ctx.log.exception("applet failed; routing to fallback")
                self._step(s, "error")
                target = compiled.plan.fallback
                if errored or target is None or target == s.applet:
                    return self._finish(slot, s, compiled, actions, apology=True)
                actions.append(self._say(compiled, SHORT_APOLOGY, s.data))
                errored = True
                self._move(s, target)
                resume = False
                continue
            resume = False
            if isinstance(decision, Ask):
                actions.extend(decision.actions)
                if s.caller_gone:  # nobody is left to answer: the call ended here
                    self._step(s, "caller_hung_up")
                    return self._finish(slot, s, compiled, actions, status=s.end_status)
                s.waiting = _waits_for(decision)
                return self._answer(slot, s, compiled, actions)
            if isinstance(decision, End):
                actions.extend(decision.actions)
                self._step(s, "end")
                return self._finish(slot, s, compiled, actions)
            if isinstance(decision, Jump):
                self._step(s, f"goto_plan:{decision.plan}")
                try:
                    compiled = self._jump(s, decision)
                except PlanNotFound:
                    ctx.log.error("goto_plan: no plan '%s'", decision.plan)
                    return self._finish(slot, s, compiled, actions, apology=True)
                ctx = self._context(s, compiled, deadline)
                target = s.applet
            else:
                actions.extend(decision.actions)
                outcome, routed = compiled.machine.pick(s.applet, decision.names)
                self._step(s, outcome)
                if routed is None:
                    routed = compiled.plan.fallback
                    if routed is None or routed == s.applet:
                        ctx.log.error(
                            "outcome '%s' is not routed and there is no fallback to "
                            "go to; apologising and hanging up",
                            outcome,
                        )
                        return self._finish(slot, s, compiled, actions, apology=True)
                    ctx.log.warning(
                        "outcome '%s' is not routed; going to fallback '%s'", outcome, routed
                    )
                target = routed
            steps += 1
            if steps >= self.max_steps:
                ctx.log.error("%d applets ran without a caller step; going to fallback", steps)
                target = compiled.plan.fallback
                if errored or target is None:
                    return self._finish(slot, s, compiled, actions, apology=True)
                errored = True
                steps = 0
            self._move(s, target)

    def _move(self, s: Session, target: str) -> None:
        s.applet = target
        s.state = {}
        s.waiting = None

    def _step(self, s: Session, outcome: str) -> None:
        written = {name: shown(name, value) for name, value in s.take_written().items()}
        s.history.append([s.applet, outcome, self.clock().isoformat(), s.plan_id, written])

    def _heard(self, s: Session, compiled: CompiledPlan, actions: Iterable[Action]) -> None:
        """The transcript: what the caller hears this turn, with the values of data sources
        that look secret (and an entry read back before it is stored in one, a PIN say)
        and card-number-like runs hidden."""
        at = self.clock().isoformat()
        pending: list[Any] = []
        if s.applet and s.state and is_sensitive(_store_of(compiled, s.applet) or ""):
            pending = [v for v in s.state.values() if isinstance(v, (str, int))]
        for text in said(actions):
            if len(s.transcript) < MAX_TRANSCRIPT:
                s.transcript.append([at, "ivr", heard_safely(text, s.data, pending)])

    def _heard_caller(self, s: Session, compiled: CompiledPlan, event: Event) -> None:
        """The transcript: what the caller did (keys hidden when they go into a name that
        looks secret)."""
        if isinstance(event, Keys):
            text = "pressed " + keyed(event.digits, _store_of(compiled, s.applet or ""))
        elif isinstance(event, Speech):
            text = f'said "{said_safely(event.text, _store_of(compiled, s.applet or ""))}" '
            text += f"({event.confidence:.2f})"
        elif isinstance(event, NoInput):
            text = "(no input)"
        elif isinstance(event, DialEnded):
            text = f"(transfer {event.status}, {event.duration} s)"
        else:
            text = f"({type(event).__name__})"
        if len(s.transcript) < MAX_TRANSCRIPT:
            s.transcript.append([self.clock().isoformat(), "caller", text])

    def _jump(self, s: Session, jump: Jump) -> CompiledPlan:
        compiled = self.catalog.current(jump.plan)
        self._publish(compiled)
        for name, value in compiled.plan.data.items():
            s.data.setdefault(name, value)  # carried data sources win over constants
        s.data["PlanId"] = compiled.id
        s.plan_id, s.plan_version = compiled.id, compiled.version
        self._move(s, jump.applet or compiled.plan.start)
        return compiled

    def _answer(
        self, slot: Slot, s: Session, compiled: CompiledPlan, actions: list[Action]
    ) -> Turn:
        self._heard(s, compiled, actions)
        s.turn += 1
        s.response = [to_dict(a) for a in actions]
        self._save(slot, s)
        return Turn(s.call_sid, s.turn, tuple(actions), ended=False)

    def _finish(
        self,
        slot: Slot,
        s: Session,
        compiled: CompiledPlan,
        actions: list[Action],
        *,
        apology: bool = False,
        status: str | None = None,
    ) -> Turn:
        if apology:
            actions = [*actions, self._say(compiled, self.apology, s.data)]
            if not s.data.get("InteractionOutcome"):
                s.data["InteractionOutcome"] = "Error"
        if not actions or not isinstance(actions[-1], Hangup):
            actions.append(Hangup())
        self._heard(s, compiled, actions)
        s.turn += 1
        s.response = [to_dict(a) for a in actions]
        s.waiting = None
        s.ended_at = self.clock().isoformat()
        s.end_status = status or "completed"
        self._record(s, slot)
        self._save(slot, s)
        return Turn(s.call_sid, s.turn, tuple(actions), ended=True)

    def _say(self, compiled: CompiledPlan, text: str, data: Mapping[str, Any]) -> Say:
        speech = compiled.speech
        defaults = compiled.plan.defaults
        voice = defaults.voice.source if defaults.voice else None
        language = defaults.language.source if defaults.language else None
        if speech.languages:  # the caller's language, in its voice
            current = data.get("Language")
            language = current if current in speech.languages else speech.languages[0]
            voice = speech.voices.get(language)
        if language and text in (APOLOGY, SHORT_APOLOGY):  # the engine's words, translated
            text = engine_words("apology" if text == APOLOGY else "went_wrong", language)
        return Say(text, voice, language)

    def _saved(self, s: Session) -> Turn:
        return Turn(s.call_sid, s.turn, tuple(from_dict(a) for a in s.response), s.ended)

    # -- helpers --------------------------------------------------------------------------

    def _context(self, s: Session, compiled: CompiledPlan, deadline: float) -> CallContext:
        return CallContext(
            s.data,
            s.state,
            http=self.http,
            clock=self.clock,
            secrets=self.secrets,
            log=CallLog(log, {"call_sid": s.call_sid, "plan": s.plan_id, "applet": s.applet}),
            currency=compiled.info.currency,
            timezone=compiled.info.timezone,
            missing=s.missing,
            speech=compiled.speech,
            deadline=deadline,
            observe=lambda result, seconds: self.observer.service_call(
                s.plan_id, s.applet or "", result, seconds
            ),
        )

    def _compiled(self, plan_id: str, version: str) -> CompiledPlan:
        compiled = self.catalog.version(plan_id, version)
        if compiled is not None:
            return compiled
        source = self.store.get_plan(version)
        if source is None and self.plan_sources is not None:
            source = self.plan_sources(plan_id, version)
        if source is None:
            log.warning(
                "plan %s version %s is gone; continuing on the current version", plan_id, version
            )
            return self.catalog.current(plan_id)
        plan, _ = load_text(source, f"<{plan_id}@{version}>")
        return self.catalog.add(plan, current=False)

    def _publish(self, compiled: CompiledPlan) -> None:
        """Keep the plan source in the store so other processes can run pinned calls (written
        at every call start, so its TTL always outlives the calls that use it). Not needed
        where published versions are read from the database (`plan_sources`): serving
        processes skip this write of the whole plan on every call."""
        if self.plan_sources is None:
            self.store.put_plan(compiled.version, compiled.plan.source, PLAN_SOURCE_TTL)

    def _save(self, slot: Slot, s: Session) -> None:
        slot.put(s.to_json(), self.ended_ttl if s.ended else self.session_ttl)

    def _reached_agent(self, s: Session) -> bool | None:
        """Whether the call passed an applet that hands callers to a person (None when no
        plan of its path is known here)."""
        known = False
        for step in s.history:
            plan_id = step[3] or s.plan_id
            compiled = self.catalog.version(plan_id, s.plan_version)
            if compiled is None and plan_id in self.catalog:
                compiled = self.catalog.current(plan_id)
            if compiled is None:
                continue
            known = True
            if step[0] and _hands_to_agent(compiled, step[0]):
                return True
        return False if known else None

    def _record(self, s: Session, slot: Slot | None = None) -> CallRecord | None:
        if s.recorded:
            return None
        outcome = s.data.get("InteractionOutcome") or (
            "Abandoned" if s.end_status not in (None, "completed") or s.waiting else "Completed"
        )
        record = CallRecord(
            call_sid=s.call_sid,
            plan_id=s.plan_id,
            plan_version=s.plan_version,
            clid=s.caller,
            ddi=s.called,
            started_at=s.started_at,
            ended_at=s.ended_at or self.clock().isoformat(),
            outcome=str(outcome),
            end_status=s.end_status or "completed",
            path=tuple(PathStep(step[0] or "", *step[1:]) for step in s.history),
            missing=tuple(dict.fromkeys(s.missing)),
            transcript=tuple(Line(*line) for line in s.transcript),
            reached_agent=self._reached_agent(s),
            test=self.test_calls,
        )
        queue_with = getattr(self.recorder, "queue_with", None)
        try:
            if slot is not None and queue_with is not None and self._queues_records:
                queue_with(slot, record)  # written with the session, in one Redis step
            else:
                self.recorder.record(record)
        except Exception:  # a database outage must not break the caller's last turn
            log.exception("[%s] could not write the call record", s.call_sid)
            return record
        s.recorded = True
        self.observer.call_ended(record.plan_id, record.outcome)
        return record


def _first_language(compiled: CompiledPlan, asked: Any) -> str:
    """The language a call starts in: the one it was placed with (an outbound call's data)
    when the plan speaks it, else the plan's default."""
    if asked and asked in compiled.speech.languages:
        return str(asked)
    return compiled.info.language or compiled.speech.language


def _load(slot: Slot) -> Session | None:
    return Session.from_json(slot.value) if slot.value else None


def _waits_for(decision: Ask) -> str | None:
    return Turn("", 0, decision.actions).waits_for


def _fits(waiting: str | None, event: Event) -> bool:
    if waiting == "keys":
        return isinstance(event, (Keys, Speech, NoInput))
    if waiting == "dial":
        return isinstance(event, DialEnded)
    if waiting == "queue":
        return isinstance(event, QueueLeft)
    return False


def _hands_to_agent(compiled: CompiledPlan, applet_id: str) -> bool:
    applet = compiled.applets.get(applet_id)
    return applet is not None and type(applet).hands_to_agent


def _store_of(compiled: CompiledPlan, applet_id: str) -> str | None:
    """The data source an applet stores the caller's entry in, if it has one."""
    applet = compiled.applets.get(applet_id)
    store = getattr(getattr(applet, "config", None), "store", None)
    return store if isinstance(store, str) else None
