"""menu: a choice of routes by one key, or by words (sugar over collect_digits and
data_router)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from applets.common import (
    ListenConfig,
    ask_again,
    heard,
    listening,
    number_value,
    text_or_none,
)
from ivr.engine.actions import Gather
from ivr.engine.prompts import PromptItem, Prompts, render
from ivr.engine.protocol import Applet, Ask, Context, Decision, Event, Outcome
from ivr.lang.diagnostics import Path
from ivr.lang.fields import (
    AppletRef,
    Check,
    FieldKind,
    Key,
    ListOf,
    MapOf,
    Name,
    Text,
    convert_struct,
    found,
    spec,
    struct_schema,
)
from ivr.lang.languages import Localized, PerLanguage, normal, pick, spoken_digits
from ivr.lang.templates import Template


@dataclass(frozen=True, kw_only=True)
class MenuOption:
    """An option that may also be chosen by words: `{goto: APPLET, say: [PHRASES]}`."""

    goto: str = field(metadata=spec(AppletRef(), "the applet this option leads to"))
    say: tuple[Template, ...] | Localized = field(
        default=(),
        metadata=spec(
            PerLanguage(ListOf(Text())),
            'words that choose this option, e.g. ["pay", "pay my bill"] (per language in a '
            "plan with languages)",
        ),
    )


class OptionKind(FieldKind):
    """An applet id, or `{goto: APPLET, say: [PHRASES]}`."""

    label = "an applet id, or {goto: APPLET, say: [PHRASES]}"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, str):
            return AppletRef().convert(value, path, check)
        if isinstance(value, dict):
            return convert_struct(MenuOption, value, path, check)
        return check.error(path, f"expected {self.label}, found {found(value)}")

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [AppletRef().schema(), struct_schema(MenuOption)]}


def target(option: str | MenuOption) -> str:
    return option.goto if isinstance(option, MenuOption) else option


@dataclass(frozen=True, kw_only=True)
class MenuConfig(ListenConfig):
    prompt: tuple[PromptItem, ...] = field(metadata=spec(Prompts(), "what the caller hears"))
    options: dict[str, str | MenuOption] = field(
        metadata=spec(
            MapOf(OptionKind(), Key(), min_items=1),
            'key → applet id, e.g. {"1": pay_bill, "2": agent}; keys 0-9, * and #; or key → '
            '{goto: APPLET, say: ["pay", "pay my bill"]} to be chosen by words as well',
        )
    )
    store: str | None = field(
        default=None, metadata=spec(Name(), "data source that receives the key pressed")
    )
    repeat_key: str | None = field(
        default=None, metadata=spec(Key(), "key that plays the prompt again without using a retry")
    )

    def check_config(self, path: Path, check: Check) -> None:
        super().check_config(path, check)
        if self.repeat_key is not None and self.repeat_key in self.options:
            check.error(path + ("repeat_key",), f"repeat_key '{self.repeat_key}' is also an option")
        _one_option_per_phrase(self.options, path, check)
        worded = [k for k, o in self.options.items() if isinstance(o, MenuOption) and o.say]
        if worded and "speech" not in self.input:
            check.warning(
                path + ("options", worded[0], "say"),
                "words choose an option only when input has speech (input: [dtmf, speech])",
            )


def _one_option_per_phrase(options: dict[str, str | MenuOption], path: Path, check: Check) -> None:
    """The same words may not choose two options (in any one language)."""
    seen: dict[tuple[str, str], str] = {}
    for key, option in options.items():
        if not isinstance(option, MenuOption):
            continue
        by_language = option.say.texts if isinstance(option.say, Localized) else {"": option.say}
        for language, phrases in by_language.items():
            for i, phrase in enumerate(phrases):
                words = normal(phrase.source)
                other = seen.setdefault((language, words), key)
                if other != key:
                    where = ("options", key, "say") + ((language,) if language else ()) + (i,)
                    check.error(
                        path + where,
                        f"'{phrase.source}' also chooses option {other}: words may choose "
                        "one option only",
                    )


class MenuApplet(Applet):
    type_name = "menu"
    ends_turn = True
    doc = (
        "A choice of routes by one key (or by words, with input: [dtmf, speech]); outcomes "
        "are the option keys, no_input and no_match."
    )
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
        for key, option in config.options.items():
            where: Path = ("options", key, "goto") if isinstance(option, MenuOption) else ()
            yield key, target(option), where or ("options", key)

    @classmethod
    def sets(cls, config: MenuConfig) -> set[str]:
        return {config.store} if config.store else set()

    def _phrases(self, scope: Any, language: str) -> dict[str, list[str]]:
        """Key → the words that choose it, in `language`."""
        out: dict[str, list[str]] = {}
        for key, option in self.config.options.items():
            if isinstance(option, MenuOption):
                said = (t.render(scope).strip() for t in pick(option.say, language))
                out[key] = [words for words in said if words]
        return out

    def gather(self, ctx: Context) -> Gather:
        c = self.config
        scope = ctx.scope()
        language = text_or_none(c.language, scope)
        speech = render(c.prompt, scope, voice=text_or_none(c.voice, scope), language=language)
        asked = Gather(tuple(speech), 1, "", number_value(c.timeout, scope))
        phrases = self._phrases(scope, language or scope.language())
        return listening(asked, c, scope, [p for words in phrases.values() for p in words])

    def enter(self, ctx: Context) -> Decision:
        ctx.state.clear()
        return Ask((self.gather(ctx),))

    def resume(self, ctx: Context, event: Event) -> Decision:
        kind, given = heard(event, self.config)
        if kind == "none":
            return ask_again(self, ctx, "no_input", self.gather, "no_match")
        key = given[:1] if kind == "keys" else self.chosen(given, ctx) if kind == "words" else ""
        if key and key == self.config.repeat_key:
            return Ask((self.gather(ctx),))
        if key not in self.config.options:
            return ask_again(self, ctx, "invalid", self.gather, "no_match")
        if self.config.store:
            ctx.data[self.config.store] = key
        return Outcome.of(key)

    def chosen(self, words: str, ctx: Context) -> str:
        """The key whose words the caller said: the longest phrase heard wins over phrases
        inside it ("pay someone" over "pay"); words of two options side by side ("pay or an
        agent") choose neither. A key said as a number ("two", "2") chooses it too. "" when
        nothing is chosen."""
        scope = ctx.scope()
        said = f" {normal(words)} "
        language = text_or_none(self.config.language, scope) or scope.language()
        heard: list[tuple[int, int, str]] = []  # start, end, key
        for key, phrases in self._phrases(scope, language).items():
            for phrase in phrases:
                wanted = f" {normal(phrase)} "
                at = said.find(wanted) if wanted.strip() else -1
                while at >= 0:
                    heard.append((at, at + len(wanted), key))
                    at = said.find(wanted, at + 1)
        if heard:
            start, end, best = max(heard, key=lambda h: h[1] - h[0])
            inside = all(k == best or (start <= s and e <= end) for s, e, k in heard)
            return best if inside else ""
        number = spoken_digits(words)
        return number if len(number) == 1 and normal(words).count(" ") < 2 else ""
