"""goto_plan: continue the call in another plan (VCC Shim Calling); data sources carry over."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.engine.protocol import Applet, Context, Decision, Jump
from ivr.lang.fields import AppletRef, PlanRef, spec


@dataclass(frozen=True, kw_only=True)
class GotoPlanConfig:
    plan: str = field(metadata=spec(PlanRef(), "id of the plan to continue in"))
    applet: str | None = field(
        default=None, metadata=spec(AppletRef(), "applet to start at (default: that plan's start)")
    )


class GotoPlanApplet(Applet):
    type_name = "goto_plan"
    doc = "Continue in another plan (VCC Shim Calling); data sources carry over. Terminal."
    outcomes = ()
    accepts_next = False
    accepts_on = False
    Config = GotoPlanConfig

    @classmethod
    def plan_reference(cls, config: GotoPlanConfig) -> tuple[str, str | None]:
        return config.plan, config.applet

    def enter(self, ctx: Context) -> Decision:
        return Jump(self.config.plan, self.config.applet)
