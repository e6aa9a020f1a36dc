"""The one module that imports `transitions`: each plan compiles once into a state machine.

States are applet ids and triggers are outcome names; no YAML string ever becomes a callback.
One machine serves every call on that plan version: a call is only its current state, kept in
the session. A turn routes an outcome on the machine through its public API: the machine's
one model (a cursor) is put in the call's state (`Machine.set_state`), the outcome is
triggered (`model.trigger`), and the state it lands in is the next applet. A lock makes the
set-trigger-read sequence atomic when threads share the plan version.
"""

from __future__ import annotations

import threading

from transitions import Machine

from ivr.lang.model import Plan


class _Cursor:
    """The machine's model: where one routing question stands. `state` is set by transitions."""

    state: str


class PlanMachine:
    """The routing graph of one plan version."""

    def __init__(self, plan: Plan):
        self._cursor = _Cursor()
        self._lock = threading.Lock()
        self.machine = Machine(
            model=self._cursor,
            states=list(plan.applets),
            initial=plan.start,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            send_event=False,
        )
        for spec in plan.applets.values():
            for outcome, target in spec.routes.items():
                self.machine.add_transition(trigger=outcome, source=spec.id, dest=target)
        # Outcomes routed from each applet: an unrouted one is not triggered at all (the
        # machine would log a warning for every status_NNN tried before status_Nxx).
        self._routed = {spec.id: frozenset(spec.routes) for spec in plan.applets.values()}

    def route(self, applet_id: str, outcome: str) -> str | None:
        """The applet that `outcome` of `applet_id` leads to, or None when it is unrouted."""
        if outcome not in self._routed.get(applet_id, ()):
            return None
        with self._lock:
            self.machine.set_state(applet_id, model=self._cursor)
            if not self._cursor.trigger(outcome):  # type: ignore[attr-defined]
                return None
            return self._cursor.state

    def pick(self, applet_id: str, candidates: tuple[str, ...]) -> tuple[str, str | None]:
        """The first routed outcome of `candidates` and its target; else the last, unrouted."""
        for outcome in candidates:
            target = self.route(applet_id, outcome)
            if target is not None:
                return outcome, target
        return candidates[-1], None
