"""Prompts in call plans: `say: TEXT`, or a list of `{say}`, `{play}` and `{pause}` items; in
a plan with `languages:`, a text may be given per language (`{en-GB: ..., cy-GB: ...}`)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, replace
from typing import Any

from foundation.suggest import did_you_mean
from ivr.engine.actions import Pause, Play, Say, Speech
from ivr.lang.diagnostics import Path
from ivr.lang.fields import (
    INVALID,
    Check,
    FieldKind,
    Integer,
    SourcePath,
    Text,
    found,
    template_fields,
    walk_templates,
)
from ivr.lang.languages import TAG_RE, Localized, PerLanguage, pick
from ivr.lang.templates import Ref, Scope, Template


@dataclass(frozen=True)
class PromptItem:
    """One prompt: exactly one of say (text), play (URL) or pause (seconds)."""

    say: Template | Localized | None = None
    play: Template | None = None
    pause: int | None = None
    language: str | None = None  # a say in this language (and its voice), whatever the call's
    for_each: Ref | None = None  # said once per element of this list, as $(item), $(index)


_EACH = {
    "type": "string",
    "description": "a list data source: this item is said once per element, with "
    "$(item.field) and $(index) (from 1)",
}
_ITEM_KINDS: dict[str, FieldKind] = {
    "say": PerLanguage(Text()),
    "play": Text(numbers=False),
    "pause": Integer(0, 60, placeholders=False),
}


class Prompts(FieldKind):
    """Text to speak, or a list of `{say: TEXT}`, `{play: URL}`, `{pause: SECONDS}`."""

    label = (
        "text, a map language → text ({en-GB: ..., cy-GB: ...}), or a list of {say: ...}, "
        "{play: ...} or {pause: ...}"
    )

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool) or _per_language(value):
            text = _ITEM_KINDS["say"].convert(value, path, check)
            return INVALID if text is INVALID else (PromptItem(say=text),)
        if not isinstance(value, list) or not value:
            return self.wrong(value, path, check)
        items = []
        bad = False
        for i, item in enumerate(value):
            converted = self._item(item, path + (i,), check)
            if converted is INVALID:
                bad = True
            else:
                items.append(converted)
        return INVALID if bad else tuple(items)

    def _item(self, item: Any, where: Path, check: Check) -> Any:
        """One item of a prompt list: say, play or pause, with `language` (a say in one
        language) and `for_each` (said once per item of a list) where they apply."""
        kinds = [k for k in item if k in _ITEM_KINDS] if isinstance(item, dict) else []
        extras = set(item) - set(kinds) if isinstance(item, dict) else set()
        kind = kinds[0] if len(kinds) == 1 else None
        allowed = {"say": {"language", "for_each"}, "play": {"for_each"}}.get(kind or "", set())
        if kind is None or extras - allowed:
            keys = list(item) if isinstance(item, dict) else None
            return check.error(
                where,
                "each prompt is one of {say: TEXT}, {play: URL} or {pause: SECONDS} (a say may "
                "add language: TAG, a say or play for_each: LIST), found "
                f"{keys if keys else found(item)}",
            )
        fields: dict[str, Any] = {}
        tag = item.get("language")
        if tag is not None:
            if tag not in check.languages:
                declared = ", ".join(check.languages) or "none: add languages: at the top"
                return check.error(
                    where + ("language",),
                    f"'{tag}' is not one of the plan's languages ({declared})"
                    f"{did_you_mean(str(tag), check.languages)}",
                )
            fields["language"] = tag
        if "for_each" in item:
            ref = SourcePath().convert(item["for_each"], where + ("for_each",), check)
            if ref is INVALID:
                return INVALID
            fields["for_each"] = ref
        text_kind = Text() if tag is not None else _ITEM_KINDS[kind]
        converted = text_kind.convert(item[kind], where + (kind,), check)
        if converted is INVALID:
            return INVALID
        return PromptItem(**{kind: converted}, **fields)

    def schema(self) -> dict[str, Any]:
        item = {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"say": _ITEM_KINDS["say"].schema(), "for_each": _EACH},
                    "required": ["say"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "say": {"type": ["string", "number"]},
                        "language": {"type": "string", "pattern": f"^{TAG_RE.pattern}$"},
                        "for_each": _EACH,
                    },
                    "required": ["say", "language"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"play": {"type": "string"}, "for_each": _EACH},
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
                *_ITEM_KINDS["say"].schema()["anyOf"],
                {"type": "array", "items": item, "minItems": 1},
            ]
        }


_TAG_LIKE = re.compile(r"[A-Za-z]{2,3}[-_][A-Za-z]{2,3}")


def _per_language(value: Any) -> bool:
    """A prompt given as one text per language: a map with a key like a language tag
    (`cy-gb` too, to be told it is not one of the plan's)."""
    return isinstance(value, dict) and any(
        isinstance(k, str) and _TAG_LIKE.fullmatch(k) for k in value
    )


def render(
    items: tuple[PromptItem, ...] | None,
    scope: Scope,
    *,
    voice: str | None = None,
    language: str | None = None,
    loop: int = 1,
) -> list[Speech]:
    """The speech actions for prompt items; empty texts are dropped (nothing to say). In a
    plan with languages, texts and voice follow the caller's language (unless the applet sets
    its own)."""
    own_voice, own_language = voice, language
    voice, language = speaker(scope, voice, language)
    if own_language and language:  # the applet speaks a language of its own
        scope = scope.in_language(language)
    out: list[Speech] = []
    for item in items or ():
        if item.for_each is not None:
            elements = scope.value(item.for_each)
            if elements is None:
                elements = []
            elif not isinstance(elements, list):
                elements = [elements]
            one = replace(item, for_each=None)
            for index, element in enumerate(elements, start=1):
                local = scope.with_local({**scope.local, "item": element, "index": index})
                out += render((one,), local, voice=voice, language=language, loop=loop)
            continue
        if item.language is not None:  # this item in its own language and that one's voice
            text = pick(item.say, item.language).render(scope.in_language(item.language))
            if text.strip():
                said_by = scope.formatting.voices.get(item.language) or own_voice
                out.append(Say(text.strip(), said_by, item.language, loop))
        elif item.say is not None:
            text = pick(item.say, language or "").render(scope).strip()
            if text:
                out.append(Say(text, voice, language, loop))
        elif item.play is not None:
            url = item.play.render(scope).strip()
            if url:
                out.append(Play(url, loop))
        elif item.pause is not None:
            out.append(Pause(item.pause))
    return out


def speaker(scope: Scope, voice: str | None, language: str | None) -> tuple[str | None, str | None]:
    """The voice and language to speak in: the applet's own, else (in a plan with
    languages) the caller's language and its voice."""
    current = scope.language()
    if not current:
        return voice, language
    language = language or current
    return voice or scope.formatting.voices.get(language) or None, language


def loops(config: Any) -> tuple[Ref, ...]:
    """The lists an applet's prompts are said once per element of (`for_each` items); found
    once per configuration (the loader's checks ask several times)."""
    found = getattr(config, "_loops", None)
    if found is None:
        out: list[Ref] = []
        kind: Any = type(config)
        for name in template_fields(kind):  # prompts hold templates
            value = getattr(config, name)
            if isinstance(value, tuple):
                out += [i.for_each for i in value if isinstance(i, PromptItem) and i.for_each]
        found = tuple(out)
        object.__setattr__(config, "_loops", found)
    return found


def stray_locals(config: Any) -> list[str]:
    """`$(item)` and `$(index)` used in an applet whose prompts loop (`for_each` items) but
    outside those items, where they are empty."""
    out: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        items = value if isinstance(value, tuple) else ()
        if items and all(isinstance(i, PromptItem) for i in items):
            value = [i for i in items if i.for_each is None]
        for template in walk_templates(value):
            out += [r.name for r in template.refs if r.name in ("item", "index")]
    return out
