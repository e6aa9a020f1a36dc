"""Prompts in call plans: `say: TEXT`, or a list of `{say}`, `{play}` and `{pause}` items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivr.engine.actions import Pause, Play, Say, Speech
from ivr.lang.diagnostics import Path
from ivr.lang.fields import INVALID, Check, FieldKind, Integer, Text, found
from ivr.lang.templates import Scope, Template


@dataclass(frozen=True)
class PromptItem:
    """One prompt: exactly one of say (text), play (URL) or pause (seconds)."""

    say: Template | None = None
    play: Template | None = None
    pause: int | None = None


_ITEM_KINDS = {
    "say": Text(),
    "play": Text(numbers=False),
    "pause": Integer(0, 60, placeholders=False),
}


class Prompts(FieldKind):
    """Text to speak, or a list of `{say: TEXT}`, `{play: URL}`, `{pause: SECONDS}`."""

    label = "text, or a list of {say: ...}, {play: ...} or {pause: ...}"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            text = Text().convert(value, path, check)
            return INVALID if text is INVALID else (PromptItem(say=text),)
        if not isinstance(value, list) or not value:
            return self.wrong(value, path, check)
        items = []
        bad = False
        for i, item in enumerate(value):
            where = path + (i,)
            if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in _ITEM_KINDS:
                keys = list(item) if isinstance(item, dict) else None
                check.error(
                    where,
                    "each prompt is one of {say: TEXT}, {play: URL} or "
                    f"{{pause: SECONDS}}, found {keys if keys else found(item)}",
                )
                bad = True
                continue
            key, raw = next(iter(item.items()))
            converted = _ITEM_KINDS[key].convert(raw, where + (key,), check)
            if converted is INVALID:
                bad = True
                continue
            items.append(PromptItem(**{key: converted}))
        return INVALID if bad else tuple(items)

    def schema(self) -> dict[str, Any]:
        item = {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"say": {"type": ["string", "number"]}},
                    "required": ["say"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"play": {"type": "string"}},
                    "required": ["play"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"pause": {"type": "integer", "minimum": 0, "maximum": 60}},
                    "required": ["pause"],
                    "additionalProperties": False,
                },
            ]
        }
        return {
            "anyOf": [
                {"type": ["string", "number"]},
                {"type": "array", "items": item, "minItems": 1},
            ]
        }


def render(
    items: tuple[PromptItem, ...] | None,
    scope: Scope,
    *,
    voice: str | None = None,
    language: str | None = None,
    loop: int = 1,
) -> list[Speech]:
    """The speech actions for prompt items; empty texts are dropped (nothing to say)."""
    out: list[Speech] = []
    for item in items or ():
        if item.say is not None:
            text = item.say.render(scope).strip()
            if text:
                out.append(Say(text, voice, language, loop))
        elif item.play is not None:
            url = item.play.render(scope).strip()
            if url:
                out.append(Play(url, loop))
        elif item.pause is not None:
            out.append(Pause(item.pause))
    return out
