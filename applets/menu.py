"""menu: a choice of routes by one key (sugar over collect_digits and data_router)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from applets.common import InputConfig, ask_again, number_value, text_or_none
from ivr.engine.actions import Gather
from ivr.engine.prompts import PromptItem, Prompts, render
from ivr.engine.protocol import Applet, Ask, Context, Decision, Event, Keys, Outcome
from ivr.lang.diagnostics import Path
from ivr.lang.fields import AppletRef, Check, Key, MapOf, Name, spec


@dataclass(frozen=True, kw_only=True)
class MenuConfig(InputConfig):
    prompt: tuple[PromptItem, ...] = field(metadata=spec(Prompts(), "what the caller hears"))
    options: dict[str, str] = field(
        metadata=spec(
            MapOf(AppletRef(), Key(), min_items=1),
            'key → applet id, e.g. {"1": pay_bill, "2": agent}; keys 0-9, * and #',
        )
    )
    store: str | None = field(
        default=None, metadata=spec(Name(), "data source that receives the key pressed")
    )
    repeat_key: str | None = field(
        default=None, metadata=spec(Key(), "key that plays the prompt again without using a retry")
    )

    def check_config(self, path: Path, check: Check) -> None:
        if self.repeat_key is not None and self.repeat_key in self.options:
            check.error(path + ("repeat_key",), f"repeat_key '{self.repeat_key}' is also an option")


class MenuApplet(Applet):
    type_name = "menu"
    ends_turn = True
    doc = "A choice of routes by one key; outcomes are the option keys, no_input and no_match."
    outcomes = ("no_input", "no_match")
    accepts_next = False
    routing_help = "menu routes keys with options: and no_input/no_match with on:, not 'next'"
    Config = MenuConfig

    @classmethod
    def on_names_schema(cls) -> dict[str, Any]:
        return {"enum": list(cls.outcomes)}  # keys are routed by `options`, not `on`

    @classmethod
    def documented_outcomes(cls) -> list[str]:
        return ["one per key in `options`", *super().documented_outcomes()]

    @classmethod
    def outcome_names(cls, config: MenuConfig) -> tuple[str, ...]:
        return tuple(config.options) + cls.outcomes

    @classmethod
    def extra_routes(cls, config: MenuConfig) -> Iterator[tuple[str, str, Path]]:
        for key, target in config.options.items():
            yield key, target, ("options", key)

    @classmethod
    def sets(cls, config: MenuConfig) -> set[str]:
        return {config.store} if config.store else set()

    def gather(self, ctx: Context) -> Gather:
        c = self.config
        scope = ctx.scope()
        speech = render(
            c.prompt,
            scope,
            voice=text_or_none(c.voice, scope),
            language=text_or_none(c.language, scope),
        )
        return Gather(tuple(speech), 1, "", number_value(c.timeout, scope))

    def enter(self, ctx: Context) -> Decision:
        ctx.state.clear()
        return Ask((self.gather(ctx),))

    def resume(self, ctx: Context, event: Event) -> Decision:
        key = event.digits[:1] if isinstance(event, Keys) else ""
        if not key:
            return ask_again(self, ctx, "no_input", self.gather, "no_match")
        if key == self.config.repeat_key:
            return Ask((self.gather(ctx),))
        if key not in self.config.options:
            return ask_again(self, ctx, "invalid", self.gather, "no_match")
        if self.config.store:
            ctx.data[self.config.store] = key
        return Outcome.of(key)
