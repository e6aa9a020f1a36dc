"""set_data: set data sources (VCC Set Data Source)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.engine.protocol import Applet, Context, Decision, Outcome
from ivr.lang.fields import MapOf, Name, Scalar, spec
from ivr.lang.templates import Template


@dataclass(frozen=True, kw_only=True)
class SetDataConfig:
    set: dict[str, Any] = field(
        metadata=spec(
            MapOf(Scalar(), Name(), min_items=1),
            "data source name → value (placeholders allowed); visible from the next applet on",
        )
    )


class SetDataApplet(Applet):
    type_name = "set_data"
    doc = "Set data sources (VCC Set Data Source)."
    Config = SetDataConfig

    @classmethod
    def sets(cls, config: SetDataConfig) -> set[str]:
        return set(config.set)

    def enter(self, ctx: Context) -> Decision:
        scope = ctx.scope()
        # Render every value against the data as it was on entry, then apply them together.
        values = {
            name: value.render(scope)
            if isinstance(value, Template)
            else (str(value) if value is not None and not isinstance(value, (bool, int)) else value)
            for name, value in self.config.set.items()
        }
        ctx.data.update(values)
        return Outcome.of("next")
