"""Config fields shared by applets that talk to the caller."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ivr.engine.actions import Gather
from ivr.engine.prompts import PromptItem, Prompts
from ivr.lang.diagnostics import Path
from ivr.lang.fields import Check, Choice, Integer, ListOf, Number, Text, spec
from ivr.lang.languages import Localized, PerLanguage, pick
from ivr.lang.templates import Template


@dataclass(frozen=True, kw_only=True)
class VoiceConfig:
    """`voice` and `language` for text-to-speech (plan defaults apply)."""

    voice: Template | None = field(
        default=None,
        metadata=spec(Text(numbers=False), "text-to-speech voice, e.g. Polly.Amy", inherit=True),
    )
    language: Template | None = field(
        default=None,
        metadata=spec(Text(numbers=False), "language of the speech, e.g. en-GB", inherit=True),
    )


@dataclass(frozen=True, kw_only=True)
class InputConfig(VoiceConfig):
    """Fields of applets that wait for keys: timeout, retries and re-prompts."""

    timeout: int | Template = field(
        default=5, metadata=spec(Integer(1, 60), "seconds to wait for a key press", inherit=True)
    )
    retries: int | Template = field(
        default=2,
        metadata=spec(
            Integer(0, 10), "re-prompts after no input or an invalid entry", inherit=True
        ),
    )
    no_input_prompt: tuple[PromptItem, ...] | None = field(
        default=None,
        metadata=spec(Prompts(), "played before the prompt again when nothing was pressed"),
    )
    invalid_prompt: tuple[PromptItem, ...] | None = field(
        default=None,
        metadata=spec(Prompts(), "played before the prompt again after an invalid entry"),
    )


INPUTS = ("dtmf", "speech")


@dataclass(frozen=True, kw_only=True)
class ListenConfig(InputConfig):
    """Fields of applets that may take the caller's words as well as keys."""

    input: tuple[str, ...] = field(
        default=("dtmf",),
        metadata=spec(
            ListOf(Choice(*INPUTS), min_items=1),
            "how the caller may answer: [dtmf] (keys), [speech] (words) or [dtmf, speech]",
        ),
    )
    hints: tuple[Template, ...] | Localized = field(
        default=(),
        metadata=spec(
            PerLanguage(ListOf(Text())),
            "words and phrases the speech recognizer should expect (Twilio's hints)",
        ),
    )
    min_confidence: Decimal = field(
        default=Decimal("0.5"),
        metadata=spec(
            Number(0, placeholders=False),
            "words heard with less confidence than this (0 to 1) count as no match",
        ),
    )

    def check_config(self, path: Path, check: Check) -> None:
        twice = [name for name in INPUTS if self.input.count(name) > 1]
        if twice:
            check.error(path + ("input",), f"input lists {twice[0]} twice")
        if self.min_confidence > 1:
            check.error(
                path + ("min_confidence",),
                f"min_confidence is between 0 and 1, found {self.min_confidence}",
            )
        if "speech" not in self.input and self.hints:
            check.warning(path + ("hints",), "hints are for speech: add speech to input")


def listening(
    gather: Gather, config: ListenConfig, scope: Any, hints: list[str], *, keys: bool = False
) -> Gather:
    """`gather` taking words too where the applet's `input` says so (and keys as well with
    `keys`: a read-back says "press 1")."""
    if "speech" not in config.input:
        return gather
    inputs = ("dtmf", "speech") if keys else config.input
    language = text_or_none(config.language, scope) or scope.language() or None
    given = [h.render(scope).strip() for h in pick(config.hints, language or "")]
    phrases = [h for h in dict.fromkeys(given + hints) if h]
    return replace(gather, input=" ".join(inputs), hints=", ".join(phrases), language=language)


def heard(event: Any, config: ListenConfig) -> tuple[str, str]:
    """What the caller gave: ("keys", digits), ("words", text), ("unsure", text) for words
    heard with too little confidence, or ("none", "")."""
    from ivr.engine.protocol import Keys, Speech

    if isinstance(event, Keys) and event.digits:
        return "keys", event.digits
    if isinstance(event, Speech) and "speech" in config.input:
        if Decimal(str(event.confidence)) < config.min_confidence:
            return "unsure", event.text
        return "words", event.text
    return "none", ""


def one_of(obj: Any, names: tuple[str, ...], path: Path, check: Check) -> None:
    """Exactly one of `names` must be set."""
    given = [n for n in names if getattr(obj, n) is not None]
    if len(given) != 1:
        listed = ", ".join(names)
        check.error(
            path,
            f"give exactly one of {listed}" + (f" (found {', '.join(given)})" if given else ""),
        )


def text_or_none(value: Template | None, scope: Any) -> str | None:
    if value is None:
        return None
    return value.render(scope) or None


def number_value(value: int | Template, scope: Any) -> int:
    """An integer field that may be a placeholder; raises ValueError when it does not render
    to a whole number."""
    if isinstance(value, Template):
        text = value.render(scope).strip()
        return int(text)
    return value


def ask_again(
    applet: Any,
    ctx: Any,
    kind: str,
    gather: Any,
    exhausted: str,
) -> Any:
    """Re-prompt after `kind` ("no_input" or "invalid") while retries last, else finish.

    Retries count re-prompts for any reason. The re-prompt plays `no_input_prompt` or
    `invalid_prompt` (when set) and then the main prompt again. When retries are used up the
    outcome is `no_input` after a silent attempt, else `exhausted` (`invalid` or `no_match`).
    """
    from ivr.engine.prompts import render
    from ivr.engine.protocol import Ask, Outcome

    scope = ctx.scope()
    retries = number_value(applet.config.retries, scope)
    attempts = ctx.state.get("attempts", 0)
    if attempts >= retries:
        return Outcome.of("no_input" if kind == "no_input" else exhausted)
    ctx.state["attempts"] = attempts + 1
    extra = applet.config.no_input_prompt if kind == "no_input" else applet.config.invalid_prompt
    lead = render(
        extra,
        scope,
        voice=text_or_none(applet.config.voice, scope),
        language=text_or_none(applet.config.language, scope),
    )
    main: Gather = gather(ctx)
    return Ask((replace(main, prompts=tuple(lead) + main.prompts),))
