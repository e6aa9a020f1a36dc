"""`$(Name.path:formatter)` and `#(SECRET)` placeholders, compiled once when a plan loads.

A `Template` is parsed from the plan text at load time; at run time `render` only walks its
parts. Missing data sources render as empty text and are noted in the scope's `missing` list.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from foundation.suggest import did_you_mean
from ivr.errors import MissingSecret, TemplateError
from ivr.lang.formatters import FORMATTERS, Formatting, to_text

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Ref:
    """A `$(Name.path:formatter)` reference."""

    name: str
    path: tuple[str | int, ...] = ()
    formatter: str | None = None


@dataclass(frozen=True)
class SecretRef:
    """A `#(NAME)` secret reference."""

    name: str


Part = str | Ref | SecretRef


def parse_ref(body: str) -> Ref:
    """`Bills[0].amount:currency` → Ref; raises TemplateError naming what is wrong."""
    text, _, formatter = body.partition(":")
    text = text.strip()
    match = NAME_RE.match(text)
    if not match:
        raise TemplateError(f"'$({body})' does not start with a data source name")
    steps: list[str | int] = []
    pos = match.end()
    while pos < len(text):
        step = _PATH_STEP.match(text, pos)
        if not step:
            raise TemplateError(
                f"'$({body})': cannot read the path at '{text[pos:]}' "
                "(use .field and [n], e.g. $(Bills[0].amount))"
            )
        steps.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
        pos = step.end()
    formatter = formatter.strip()
    if formatter and formatter not in FORMATTERS:
        raise TemplateError(
            f"unknown formatter '{formatter}' in '$({body})'{did_you_mean(formatter, FORMATTERS)}"
        )
    return Ref(match.group(0), tuple(steps), formatter or None)


@dataclass(frozen=True)
class Template:
    """Text with placeholders, parsed once."""

    source: str
    parts: tuple[Part, ...] = field(default=())

    @classmethod
    def parse(cls, source: str) -> Template:
        """The template of `source` (TemplateError when a placeholder is malformed). Parsed
        once per distinct text: plans repeat prompts and headers, and a Template never
        changes."""
        return _parse(source)

    @cached_property  # a Template never changes: worked out once
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @cached_property
    def refs(self) -> tuple[Ref, ...]:
        return tuple(p for p in self.parts if isinstance(p, Ref))

    @cached_property
    def secrets(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if isinstance(p, SecretRef))

    def render(self, scope: Scope) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Ref):
                out.append(scope.format(part))
            else:
                out.append(scope.secret(part.name))
        return "".join(out)

    def __str__(self) -> str:
        return self.source


_MISSING = object()


def lookup(value: Any, path: tuple[str | int, ...]) -> Any:
    """Follow `.field` / `[n]` steps into a value; `_MISSING` when a step finds nothing."""
    for step in path:
        if isinstance(value, Mapping):
            value = value.get(str(step), _MISSING)
        elif isinstance(value, list) and isinstance(step, int):
            value = value[step] if step < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


class Scope:
    """Everything a template needs at run time: data sources, secrets and formatting."""

    def __init__(
        self,
        data: Mapping[str, Any],
        formatting: Formatting,
        *,
        secrets: Callable[[str], str | None] | None = None,
        local: Mapping[str, Any] | None = None,
    ):
        self.data = data
        self.formatting = formatting
        self.secrets = secrets
        self.local = local or {}
        self.missing: list[str] = []
        self.speaking: str | None = None  # a prompt said in its own language (formatters)

    def with_local(self, local: Mapping[str, Any]) -> Scope:
        scope = Scope(self.data, self.formatting, secrets=self.secrets, local=local)
        scope.missing = self.missing
        scope.speaking = self.speaking
        return scope

    def in_language(self, language: str) -> Scope:
        """This scope for text said in `language` (its dates in that language's words)."""
        scope = self.with_local(self.local)
        scope.speaking = language
        return scope

    def value(self, ref: Ref) -> Any:
        """The value a reference points at, or None (noted as missing) when absent."""
        if ref.name in self.local:
            base = self.local[ref.name]
        else:
            base = self.data.get(ref.name, _MISSING)
        found = _MISSING if base is _MISSING else lookup(base, ref.path)
        if found is _MISSING:
            self.missing.append(
                ref.name + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in ref.path)
            )
            return None
        return found

    def language(self) -> str:
        """The caller's language in a plan with `languages:` (the Language data source when
        it names one of them, else the first), else ""."""
        languages = self.formatting.languages
        if not languages:
            return ""
        current = self.data.get("Language")
        return current if current in languages else languages[0]

    def format(self, ref: Ref) -> str:
        value = self.value(ref)
        if ref.formatter:
            fmt = self.formatting
            language = self.speaking or (self.language() if fmt.languages else "")
            if language and fmt.language != language:
                fmt = replace(fmt, language=language)
            return FORMATTERS[ref.formatter](value, fmt)
        return to_text(value)

    def secret(self, name: str) -> str:
        value = self.secrets(name) if self.secrets else None
        if value is None:
            raise MissingSecret(name)
        return value


_PLACEHOLDER = re.compile(r"\$\$|[$#]\(")


@functools.lru_cache(maxsize=65536)
def _parse(source: str) -> Template:
    if "$" not in source and "#(" not in source:  # plain text: most prompts
        return Template(source, (source,) if source else ())
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    for found in _PLACEHOLDER.finditer(source):
        i = found.start()
        if i < pos:
            continue  # inside a placeholder already read
        literal.append(source[pos:i])
        if found.group() == "$$":
            literal.append("$")
            pos = i + 2
            continue
        end = source.find(")", i + 2)
        if end < 0:
            raise TemplateError(
                f"unclosed placeholder '{source[i : i + 20]}': add ')' (write $$ for a literal $)"
            )
        body = source[i + 2 : end]
        text = "".join(literal)
        if text:
            parts.append(text)
        literal = []
        if source[i] == "$":
            parts.append(parse_ref(body))
        else:
            name = body.strip()
            if not NAME_RE.fullmatch(name):
                raise TemplateError(f"'#({body})' is not a valid secret name")
            parts.append(SecretRef(name))
        pos = end + 1
    literal.append(source[pos:])
    text = "".join(literal)
    if text:
        parts.append(text)
    return Template(source, tuple(parts))
