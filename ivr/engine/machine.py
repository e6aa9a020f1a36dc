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
    """The routing graph of one plan version.

    An applet's state and transitions join the machine the first time a call routes from it
    (under the lock): a large plan compiles without building what its calls never reach, and
    a call pays once per applet for the few it visits. The routes themselves are fixed when
    the plan loads; every answer comes from the machine."""

    def __init__(self, plan: Plan):
        self._cursor = _Cursor()
        self._lock = threading.Lock()
        self._routes = {spec.id: dict(spec.routes) for spec in plan.applets.values()}
        self._states: set[str] = {plan.start}
        self._wired: set[str] = set()
        self.machine = Machine(
            model=self._cursor,
            states=[plan.start],
            initial=plan.start,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            send_event=False,
        )

    def _wire(self, applet_id: str) -> None:
        """Add `applet_id`'s state, its targets' and its transitions (caller holds the lock)."""
        routes = self._routes[applet_id]
        new = [s for s in dict.fromkeys([applet_id, *routes.values()]) if s not in self._states]
        if new:
            self.machine.add_states(new)
            self._states.update(new)
        for outcome, target in routes.items():
            self.machine.add_transition(trigger=outcome, source=applet_id, dest=target)
        self._wired.add(applet_id)

    def route(self, applet_id: str, outcome: str) -> str | None:
        """The applet that `outcome` of `applet_id` leads to, or None when it is unrouted."""
        if outcome not in self._routes.get(applet_id, ()):
            return None
        with self._lock:
            if applet_id not in self._wired:
                self._wire(applet_id)
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
