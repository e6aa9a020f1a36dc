"""pause: optionally say something, then wait in silence and carry on in a new webhook.

How a plan waits for a slow result (a stored-card charge still in progress, say) without
holding one webhook past Twilio's 15 s: the turn ends with `<Pause>` and a `<Redirect>`, and
the next applet runs when Twilio comes back. Keys pressed meanwhile are ignored."""

from __future__ import annotations

from dataclasses import dataclass, field

from applets.common import VoiceConfig, text_or_none
from ivr.engine.actions import Wait
from ivr.engine.prompts import PromptItem, render
from ivr.engine.protocol import Applet, Ask, Context, Decision, Event, Outcome
from ivr.lang.fields import Integer, Text, spec
from ivr.lang.languages import PerLanguage
from ivr.lang.templates import Template


@dataclass(frozen=True, kw_only=True)
class PauseConfig(VoiceConfig):
    say: Template | None = field(
        default=None,
        metadata=spec(PerLanguage(Text()), "what to say before the silence, e.g. Please hold"),
    )
    seconds: int = field(
        default=2,
        metadata=spec(
            Integer(1, 10, placeholders=False), "seconds of silence before the next applet"
        ),
    )


class PauseApplet(Applet):
    type_name = "pause"
    ends_turn = True
    doc = (
        "Say something (optional), wait in silence, and go on in a new webhook: for waiting "
        "on a slow result within Twilio's 15 s."
    )
    outcomes = ("next",)
    Config = PauseConfig

    def enter(self, ctx: Context) -> Decision:
        scope = ctx.scope()
        items = (PromptItem(say=self.config.say),) if self.config.say is not None else ()
        speech = render(
            items,
            scope,
            voice=text_or_none(self.config.voice, scope),
            language=text_or_none(self.config.language, scope),
        )
        return Ask((*speech, Wait(self.config.seconds)))

    def resume(self, ctx: Context, event: Event) -> Decision:
        return Outcome.of("next")
