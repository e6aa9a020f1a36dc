"""say: play or speak to the caller (VCC Announcement / Announcer)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from applets.common import VoiceConfig, one_of, text_or_none
from ivr.engine.prompts import PromptItem, Prompts, render
from ivr.engine.protocol import Applet, Context, Decision, Outcome
from ivr.lang.diagnostics import Path
from ivr.lang.fields import Check, Integer, SourcePath, Text, spec
from ivr.lang.languages import Localized, PerLanguage
from ivr.lang.templates import Ref, Template


@dataclass(frozen=True, kw_only=True)
class SayConfig(VoiceConfig):
    say: Template | Localized | None = field(
        default=None, metadata=spec(PerLanguage(Text()), "text to speak")
    )
    play: Template | None = field(
        default=None, metadata=spec(Text(numbers=False), "URL of audio to play")
    )
    prompts: tuple[PromptItem, ...] | None = field(
        default=None, metadata=spec(Prompts(), "a list of {say}, {play} and {pause} items")
    )
    loop: int = field(
        default=1,
        metadata=spec(
            Integer(1, 10, placeholders=False), "times to play the whole list of prompts"
        ),
    )
    for_each: Ref | None = field(
        default=None,
        metadata=spec(
            SourcePath(),
            "a list data source: the prompts are spoken once per item, with "
            "$(item.field) and $(index) (from 1)",
        ),
    )

    def check_config(self, path: Path, check: Check) -> None:
        one_of(self, ("say", "play", "prompts"), path, check)


class SayApplet(Applet):
    type_name = "say"
    doc = "Play or speak to the caller (VCC Announcement / Announcer)."
    outcomes = ("next",)
    Config = SayConfig

    def __init__(self, applet_id: str, config: SayConfig, plan: Any):
        super().__init__(applet_id, config, plan)
        if config.prompts is not None:
            self.items = config.prompts
        elif config.say is not None:
            self.items = (PromptItem(say=config.say),)
        else:
            self.items = (PromptItem(play=config.play),)

    @classmethod
    def local_names(cls, config: SayConfig) -> set[str]:
        return {"item", "index"} if config.for_each else super().local_names(config)

    def enter(self, ctx: Context) -> Decision:
        c = self.config
        scope = ctx.scope()
        voice, language = text_or_none(c.voice, scope), text_or_none(c.language, scope)
        if c.for_each is None:
            return Outcome.of(
                "next", render(self.items, scope, voice=voice, language=language) * c.loop
            )
        items = scope.value(c.for_each)
        if items is None:
            items = []
        elif not isinstance(items, list):
            items = [items]
        actions = []
        for index, item in enumerate(items, start=1):
            local = scope.with_local({"item": item, "index": index})
            actions += render(self.items, local, voice=voice, language=language) * c.loop
        return Outcome.of("next", actions)

    @classmethod
    def reads(cls, config: SayConfig) -> Iterator[Ref]:
        yield from super().reads(config)
        if config.for_each is not None:
            yield config.for_each
