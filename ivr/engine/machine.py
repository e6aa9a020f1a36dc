"""The one module that imports `transitions`: each plan compiles once into a state machine.

States are applet ids and triggers are outcome names; no YAML string ever becomes a callback.
One machine serves every call on that plan version: a call is only its current state, kept in
the session, and the engine asks the machine where an outcome leads from that state.
"""

from __future__ import annotations

from transitions import Machine

from ivr.lang.model import Plan


class PlanMachine:
    """The routing graph of one plan version."""

    def __init__(self, plan: Plan):
        self.machine = Machine(
            model=None,
            states=list(plan.applets),
            initial=None,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            send_event=False,
        )
        for spec in plan.applets.values():
            for outcome, target in spec.routes.items():
                self.machine.add_transition(trigger=outcome, source=spec.id, dest=target)

    def route(self, applet_id: str, outcome: str) -> str | None:
        """The applet that `outcome` of `applet_id` leads to, or None when it is unrouted."""
        event = self.machine.events.get(outcome)
        if event is None:
            return None
        found = event.transitions.get(applet_id)
        return found[0].dest if found else None

    def pick(self, applet_id: str, candidates: tuple[str, ...]) -> tuple[str, str | None]:
        """The first routed outcome of `candidates` and its target; else the last, unrouted."""
        for outcome in candidates:
            target = self.route(applet_id, outcome)
            if target is not None:
                return outcome, target
        return candidates[-1], None

    @property
    def states(self) -> list[str]:
        return list(self.machine.states)
