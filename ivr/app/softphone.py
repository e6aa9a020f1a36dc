"""The console's softphone: calls from a browser to the plans this fleet serves.

A softphone call rings the published plans (the live catalog: a publish is heard at once) on a
private system of its own: a PCI bridge with the simulated gateway (never the live gateway), its
ledger in `softphone_pci_database_url`, its live state in the same store under a namespace of its
own (so a caller ID never meets a live payment), no payment-result webhook (test payments never
reach the back office), and call records marked as test calls.

The call is stepped: each request from the browser (ring, an entry at a prompt, hang up) runs
the simulator until the next prompt waits, and the call's state (`CallState`, plain data) is
kept in the store under the call's lock, so any worker takes the next step. Nothing the caller
keyed is kept: the entry goes from the request into the webhook it answers."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import requests

from ivr.adapters.loopback import mount
from ivr.app.system import System
from ivr.console.phone_line import PhoneCallGone, PhoneMovedOn, PhoneProblem
from ivr.engine.stores.base import Slot
from ivr.engine.stores.redis_store import RedisStore
from ivr.phone.transport import FlaskTransport
from ivr.phone.twilio import CallState, Event, SimClock, TwilioSimulator

log = logging.getLogger("ivr.softphone")

STATE_TTL = 900  # a call idle this long (the browser was closed) is forgotten
KEY = "softphone:{call_id}"  # in the session store, beside the calls it serves
NAMESPACE = "softphone:"  # the private bridge's keys in a shared store
CALL_ID = re.compile(r"CA[0-9a-f]{32}")
NUMBER = re.compile(r"\+?[0-9]{3,16}")
ENTRY = re.compile(r"[0-9*#]{0,64}")
SHOWN = ("say", "play", "pause", "prompt", "keys", "speech", "no_input", "dial", "connected",
         "dial_result", "enqueue", "redirect", "hangup", "caller_hangup", "error", "leg_start",
         "leg_end")  # fmt: skip


class FollowedClock(SimClock):
    """The system's own clock (the real time when serving): a softphone caller listens and
    keys at the pace they choose, so nothing is advanced."""

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock

    def __call__(self) -> datetime:
        return self.clock()

    def advance(self, seconds: float) -> None:
        return None


@dataclass(frozen=True)
class Step:
    """What the browser hears after a request: the events since the last one, the prompt
    waiting (if any) and whether the call has ended."""

    call_id: str
    events: list[dict[str, Any]]
    state: CallState

    def as_dict(self) -> dict[str, Any]:
        waiting = self.state.waiting
        return {
            "call": self.call_id,
            "events": self.events,
            "waiting": None
            if waiting is None
            else {
                "leg": waiting.leg,
                "num_digits": waiting.num_digits or None,
                "finish_on_key": waiting.finish_on_key,
                "timeout": waiting.timeout,
                "answered": self.state.prompts_answered,
            },
            "ended": self.state.ended,
            "ended_by": self.state.ended_by,
            "duration": self.state.duration,
        }


class Softphone:
    """Softphone calls for the console (built on first use, once per process)."""

    def __init__(self, live: System):
        self.live = live
        self._lock = threading.Lock()
        self._simulator: TwilioSimulator | None = None
        self.private: System | None = None
        self.payments: Any = None  # the private bridge's payments API (PaymentsApi)

    # -- requests ---------------------------------------------------------------------------

    def numbers(self) -> list[tuple[str, str]]:
        """The numbers the fleet serves, with their plans."""
        catalog = self.live.catalog
        return sorted(
            (number, plan_id)
            for plan_id in catalog.plan_ids
            for number in catalog.current(plan_id).plan.numbers
        )

    def ring(self, user: str, to: str, caller: str) -> Step:
        """Ring `to` from `caller` (empty: withheld) for the console user `user`."""
        to, caller = to.strip(), caller.strip()
        if not NUMBER.fullmatch(to):
            raise PhoneProblem(f"'{to[:40]}' is not a number to call (digits, + first)")
        if caller and not NUMBER.fullmatch(caller):
            raise PhoneProblem(
                f"'{caller[:40]}' is not a caller ID (digits, + first; empty to withhold it)"
            )
        simulator = self._ready()
        events: list[Event] = []
        state = simulator.begin(to, caller, events)
        self._keep(state.sid, user, state)
        return self._step(state, events)

    def enter(self, user: str, call_id: str, keys: str, answered: int) -> Step:
        """The caller's keys at the prompt waiting (`answered`: how many prompts the browser
        saw answered, so a repeated request is refused rather than answering the next one)."""
        if not ENTRY.fullmatch(keys):
            raise PhoneProblem("keys are 0-9, * and # (at most 64 at one prompt)")
        simulator = self._ready()
        with self._call(user, call_id) as (slot, state):
            if state.waiting is None or state.prompts_answered != answered:
                raise PhoneMovedOn("that prompt was answered already: the call has moved on")
            events: list[Event] = []
            simulator.answer(state, keys, events)
            self._save(slot, user, state)
        return self._step(state, events)

    def hang_up(self, user: str, call_id: str) -> Step:
        simulator = self._ready()
        with self._call(user, call_id) as (slot, state):
            events: list[Event] = []
            simulator.hang_up(state, events)
            self._save(slot, user, state)
        return self._step(state, events)

    # -- the call's state -------------------------------------------------------------------

    @contextmanager
    def _call(self, user: str, call_id: str) -> Iterator[tuple[Slot, CallState]]:
        """`user`'s call `call_id`, under its lock (PhoneCallGone: no such call of theirs)."""
        if not CALL_ID.fullmatch(call_id):
            raise PhoneCallGone(call_id)
        with self.live.store.session(KEY.format(call_id=call_id)) as slot:
            raw = json.loads(slot.value) if slot.value else None
            if raw is None or raw.get("user") != user:
                raise PhoneCallGone(call_id)
            yield slot, CallState.from_dict(raw["state"])

    def _keep(self, call_id: str, user: str, state: CallState) -> None:
        if state.ended:
            return
        with self.live.store.session(KEY.format(call_id=call_id)) as slot:
            self._save(slot, user, state)

    @staticmethod
    def _save(slot: Slot, user: str, state: CallState) -> None:
        if state.ended:
            slot.delete()
        else:
            slot.put(json.dumps({"user": user, "state": state.as_dict()}), STATE_TTL)

    @staticmethod
    def _step(state: CallState, events: list[Event]) -> Step:
        return Step(state.sid, [_shown(e) for e in events if e.kind in SHOWN], state)

    # -- the private system -----------------------------------------------------------------

    def _ready(self) -> TwilioSimulator:
        with self._lock:
            if self._simulator is None:
                self._simulator = self._build()
            return self._simulator

    def _build(self) -> TwilioSimulator:
        from ivr.app.web import create_app, payments_api

        live = self.live
        settings = live.settings
        pci = {**settings.pci, "gateway": "simulated", "result_webhook": None}
        pci["database_url"] = settings.softphone_pci_database_url
        pci.pop("state_url", None)
        private_settings = replace(settings, pci=pci)
        http = requests.Session()
        bridge_state = None
        if isinstance(live.store, RedisStore):
            from pci_bridge.state import RedisState

            bridge_state = RedisState(live.store.client, namespace=NAMESPACE)
        app = create_app(
            private_settings,
            private=True,
            http=http,
            clock=live.engine.clock,
            store=live.store,
            recorder=live.recorder,
            catalog=live.catalog,
            plan_sources=live.engine.plan_sources,
            bridge_state=bridge_state,
            test_calls=True,
        )
        mount(http, app, settings.self_url)
        self.private = app.extensions["ivr"]
        self.payments = payments_api(self.private)
        log.info("softphone ready: test payments in %s", settings.softphone_pci_database_url)
        return TwilioSimulator(
            FlaskTransport(app),
            directory=self.private.directory,
            auth_token=settings.auth_token,
            sign_base=settings.public_url,
            clock=FollowedClock(live.engine.clock),
            account_sid=settings.account_sid,
        )

    def payments_api(self) -> Any:
        """The private bridge's payments API (the test payments), or None without a bridge."""
        self._ready()
        return self.payments

    def close(self) -> None:
        if self.private is not None and self.private.bridge is not None:
            self.private.bridge.close()


def _shown(event: Event) -> dict[str, Any]:
    """An event as the browser shows it: keys on a transferred leg (a card's digits, on the
    PCI bridge) are never sent back, only how many were pressed."""
    shown = event.as_dict()
    if event.kind == "keys" and event.leg > 0:
        shown["text"] = f"{len(event.text)} key" + ("s" if len(event.text) != 1 else "")
    return shown
