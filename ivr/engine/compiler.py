"""Compile a loaded plan once: applet instances and the routing machine, ready for every call."""

from __future__ import annotations

from dataclasses import dataclass, field

from foundation.gc_pause import gc_paused
from ivr.engine.machine import PlanMachine
from ivr.engine.protocol import Applet, PlanInfo
from ivr.engine.registry import REGISTRY
from ivr.lang.formatters import Formatting
from ivr.lang.model import Plan


@dataclass(frozen=True)
class CompiledPlan:
    """Everything a turn needs from a plan version, built at load time only."""

    plan: Plan
    applets: dict[str, Applet]
    machine: PlanMachine
    info: PlanInfo
    speech: Formatting = field(default_factory=Formatting)  # language, languages, voices

    @property
    def id(self) -> str:
        return self.plan.id

    @property
    def version(self) -> str:
        return self.plan.version


def compile_plan(plan: Plan) -> CompiledPlan:
    defaults = plan.defaults
    info = PlanInfo(
        plan.id,
        defaults.currency,
        defaults.timezone,
        language=defaults.language.source if defaults.language else "",
        languages=tuple(lang.tag for lang in plan.languages),
        voices={lang.tag: lang.voice for lang in plan.languages if lang.voice},
    )
    with gc_paused():  # like loading: many objects, no garbage cycles
        built = {
            spec.id: REGISTRY[spec.type](spec.id, spec.config, info)
            for spec in plan.applets.values()
        }
        speech = Formatting(
            defaults.currency,
            language=info.languages[0] if info.languages else info.language,
            languages=info.languages,
            voices=info.voices,
        )
        return CompiledPlan(plan, built, PlanMachine(plan), info, speech)
