"""Config fields shared by applets that talk to the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.engine.prompts import PromptItem, Prompts
from ivr.lang.diagnostics import Path
from ivr.lang.fields import Check, Integer, Text, spec
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
    from ivr.engine.actions import Gather
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
    return Ask(
        (Gather(tuple(lead) + main.prompts, main.num_digits, main.finish_on_key, main.timeout),)
    )
