"""Compile a loaded plan once: applet instances and the routing machine, ready for every call."""

from __future__ import annotations

from dataclasses import dataclass

from foundation.gc_pause import gc_paused
from ivr.engine.machine import PlanMachine
from ivr.engine.protocol import Applet, PlanInfo
from ivr.engine.registry import REGISTRY
from ivr.lang.model import Plan


@dataclass(frozen=True)
class CompiledPlan:
    """Everything a turn needs from a plan version, built at load time only."""

    plan: Plan
    applets: dict[str, Applet]
    machine: PlanMachine
    info: PlanInfo

    @property
    def id(self) -> str:
        return self.plan.id

    @property
    def version(self) -> str:
        return self.plan.version


def compile_plan(plan: Plan) -> CompiledPlan:
    info = PlanInfo(plan.id, plan.defaults.currency, plan.defaults.timezone)
    with gc_paused():  # like loading: many objects, no garbage cycles
        built = {
            spec.id: REGISTRY[spec.type](spec.id, spec.config, info)
            for spec in plan.applets.values()
        }
        return CompiledPlan(plan, built, PlanMachine(plan), info)
