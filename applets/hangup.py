"""hangup: say goodbye, set the interaction outcome and end the call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from applets.common import VoiceConfig, text_or_none
from ivr.engine.actions import Hangup
from ivr.engine.prompts import PromptItem, Prompts, render
from ivr.engine.protocol import Applet, Context, Decision, End
from ivr.lang.diagnostics import Path
from ivr.lang.fields import Check, Text, spec
from ivr.lang.languages import Localized, PerLanguage
from ivr.lang.templates import Template


@dataclass(frozen=True, kw_only=True)
class HangupConfig(VoiceConfig):
    say: Template | Localized | None = field(
        default=None, metadata=spec(PerLanguage(Text()), "goodbye text")
    )
    prompts: tuple[PromptItem, ...] | None = field(
        default=None, metadata=spec(Prompts(), "goodbye prompts")
    )
    outcome: Template | None = field(
        default=None, metadata=spec(Text(), "sets InteractionOutcome, e.g. PaymentTaken")
    )

    def check_config(self, path: Path, check: Check) -> None:
        if self.say is not None and self.prompts is not None:
            check.error(path, "give say or prompts, not both")


class HangupApplet(Applet):
    type_name = "hangup"
    ends_turn = True
    doc = "End the call, optionally after a goodbye; terminal."
    outcomes = ()
    accepts_next = False
    accepts_on = False
    Config = HangupConfig

    def __init__(self, applet_id: str, config: HangupConfig, plan: Any):
        super().__init__(applet_id, config, plan)
        self.items = config.prompts or ((PromptItem(say=config.say),) if config.say else ())

    @classmethod
    def sets(cls, config: HangupConfig) -> set[str]:
        return {"InteractionOutcome"} if config.outcome is not None else set()

    def enter(self, ctx: Context) -> Decision:
        scope = ctx.scope()
        if self.config.outcome is not None:
            ctx.data["InteractionOutcome"] = self.config.outcome.render(scope)
        speech = render(
            self.items,
            scope,
            voice=text_or_none(self.config.voice, scope),
            language=text_or_none(self.config.language, scope),
        )
        return End((*speech, Hangup()))
