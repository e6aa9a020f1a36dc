"""Field kinds of the call plan language: conversion with precise errors, and their JSON Schema.

Applet configurations are frozen dataclasses whose fields carry a `FieldKind` in their metadata
(see `spec`). The loader converts YAML values through those kinds, the JSON Schema for editors
is generated from the same kinds, and so is the reference in `docs/`: one definition, no drift.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from foundation.phone import E164
from foundation.suggest import did_you_mean
from ivr.errors import TemplateError
from ivr.lang.diagnostics import Path, Report
from ivr.lang.templates import NAME_RE, Template

INVALID: Any = type("Invalid", (), {"__repr__": lambda self: "INVALID"})()
ID_RE = re.compile(r"[a-z][a-z0-9_]*")
PLACEHOLDER_PATTERN = r"[$#]\("
KEYS = tuple("0123456789*#")
# Words admins reach for that some applets name differently: said when a key is unknown.
SYNONYMS = {
    "say": "prompt",
    "prompt": "say",
    "message": "say",
    "text": "say",
    "goto": "next",
    "then": "next",
    "url": "request",
}


def found(value: Any) -> str:
    """How a wrong value is described in an error."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a true/false)"
    if isinstance(value, (int, Decimal)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__  # pragma: no cover


class Check:
    """What conversion needs: the report, the plan's declared secrets and languages."""

    def __init__(
        self,
        report: Report,
        secrets: frozenset[str] = frozenset(),
        languages: tuple[str, ...] = (),
    ):
        self.report = report
        self.secrets = secrets
        self.languages = languages  # the plan's `languages:`, first the default

    def error(self, path: Path, message: str, *, key: bool = False) -> Any:
        self.report.error(path, message, key=key)
        return INVALID

    def warning(self, path: Path, message: str, *, key: bool = False) -> None:
        self.report.warning(path, message, key=key)


class FieldKind:
    """Base of all field kinds."""

    label = "value"
    holds_templates = True  # False: a converted value never has a Template inside

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        raise NotImplementedError  # pragma: no cover - every kind overrides it

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover

    def wrong(self, value: Any, path: Path, check: Check) -> Any:
        return check.error(path, f"expected {self.label}, found {found(value)}")


def compile_template(text: str, path: Path, check: Check, *, secrets_allowed: bool) -> Any:
    try:
        template = Template.parse(text)
    except TemplateError as exc:
        return check.error(path, str(exc))
    for name in template.secrets:
        if not secrets_allowed:
            return check.error(
                path,
                f"#({name}): secrets may only be used in a data_connector request "
                "(url, headers, query, json, form, body), so they are never spoken or stored",
            )
        if name not in check.secrets:
            return check.error(
                path,
                f"#({name}) is not listed in secrets:"
                f"{did_you_mean(name, check.secrets)}; add it to the plan's secrets list",
            )
    return template


class Text(FieldKind):
    """Text with `$(...)` placeholders (and `#(...)` secrets where allowed)."""

    label = "text"

    def __init__(self, *, secrets: bool = False, numbers: bool = True):
        self.secrets = secrets
        self.numbers = numbers

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            return self.wrong(value, path, check)
        if not isinstance(value, str):
            if not self.numbers:
                return check.error(path, f"expected text, found {found(value)}; put it in quotes")
            value = str(value)
        return compile_template(value, path, check, secrets_allowed=self.secrets)

    def schema(self) -> dict[str, Any]:
        return {"type": ["string", "number"]} if self.numbers else {"type": "string"}


class Phone(Text):
    """An E.164 number such as `+442071230001`, or a placeholder that renders to one."""

    label = "E.164 phone numbers in quotes"

    def __init__(self, *, placeholders: bool = True) -> None:
        super().__init__(numbers=False)
        self.placeholders = placeholders

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return check.error(
                path, f'phone numbers must be quoted text such as "+{value}", found {value}'
            )
        template = super().convert(value, path, check)
        if template is not INVALID and not template.is_constant and not self.placeholders:
            return check.error(path, f"'{value}': write the number itself here, not a placeholder")
        if template is not INVALID and template.is_constant and not E164.fullmatch(value):
            return check.error(
                path, f"'{value}' is not an E.164 number (expected + and 7 to 15 digits)"
            )
        return template

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": rf"^(\+[1-9][0-9]{{6,14}}|.*{PLACEHOLDER_PATTERN}.*)$"}


class Name(FieldKind):
    """A data source name: `[A-Za-z][A-Za-z0-9_]*`."""

    holds_templates = False

    label = "a data source name"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str):
            return self.wrong(value, path, check)
        if not NAME_RE.fullmatch(value):
            return check.error(
                path,
                f"'{value}' is not a data source name (letters, digits and _, "
                "starting with a letter)",
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{NAME_RE.pattern}$"}


class SourcePath(FieldKind):
    """A data source with an optional path: `Bills`, `Account.status`, `Bills[0].amount`."""

    holds_templates = False

    label = "a data source name (optionally with .field or [n])"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str):
            return self.wrong(value, path, check)
        text = value.strip()
        if text.startswith("$(") and text.endswith(")"):
            text = text[2:-1]
        if ":" in text:
            return check.error(path, f"'{value}': a source takes no formatter")
        try:
            return compile_template(f"$({text})", path, check, secrets_allowed=False).refs[0]
        except (TemplateError, AttributeError):
            return check.error(path, f"'{value}' is not a data source name")

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


class AppletRef(FieldKind):
    """The id of an applet in the same plan (existence is checked with the whole plan)."""

    holds_templates = False

    label = "an applet id"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str):
            return self.wrong(value, path, check)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{ID_RE.pattern}$"}


class PlanRef(AppletRef):
    """The id of another call plan."""

    label = "a plan id"


class Integer(FieldKind):
    """A whole number (or a placeholder that renders to one, when `placeholders`)."""

    def __init__(
        self, minimum: int | None = None, maximum: int | None = None, *, placeholders: bool = True
    ):
        self.minimum, self.maximum, self.placeholders = minimum, maximum, placeholders
        self.holds_templates = placeholders
        bounds = []
        if minimum is not None:
            bounds.append(f"at least {minimum}")
        if maximum is not None:
            bounds.append(f"at most {maximum}")
        self.label = "a whole number" + (f" ({', '.join(bounds)})" if bounds else "")

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if self.placeholders and isinstance(value, str) and re.search(PLACEHOLDER_PATTERN, value):
            return compile_template(value, path, check, secrets_allowed=False)
        if isinstance(value, bool) or not isinstance(value, int):
            return self.wrong(value, path, check)
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            return check.error(path, f"expected {self.label}, found {value}")
        return value

    def schema(self) -> dict[str, Any]:
        number: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            number["minimum"] = self.minimum
        if self.maximum is not None:
            number["maximum"] = self.maximum
        if not self.placeholders:
            return number
        return {"anyOf": [number, {"type": "string", "pattern": PLACEHOLDER_PATTERN}]}


class Number(FieldKind):
    """A decimal number (never a float), or a placeholder that renders to one."""

    label = "a number"

    def __init__(self, minimum: Decimal | int | None = None, *, placeholders: bool = True):
        self.minimum = None if minimum is None else Decimal(minimum)
        self.placeholders = placeholders
        self.holds_templates = placeholders
        if minimum is not None:
            self.label = f"a number (at least {minimum})"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if self.placeholders and isinstance(value, str) and re.search(PLACEHOLDER_PATTERN, value):
            return compile_template(value, path, check, secrets_allowed=False)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            return self.wrong(value, path, check)
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            return self.wrong(value, path, check)
        if not number.is_finite() or (self.minimum is not None and number < self.minimum):
            return check.error(path, f"expected {self.label}, found {value}")
        return number

    def schema(self) -> dict[str, Any]:
        number: dict[str, Any] = {"type": "number"}
        if self.minimum is not None:
            number["minimum"] = float(self.minimum)
        if not self.placeholders:
            return number
        return {"anyOf": [number, {"type": "string", "pattern": PLACEHOLDER_PATTERN}]}


class Boolean(FieldKind):
    holds_templates = False
    label = "true or false"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, bool):
            return self.wrong(value, path, check)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Choice(FieldKind):
    """One of a fixed set of words."""

    holds_templates = False

    def __init__(self, *values: str, upper: bool = False):
        self.values = values
        self.upper = upper
        self.label = "one of " + ", ".join(values)

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str):
            return self.wrong(value, path, check)
        word = value.upper() if self.upper else value
        if word not in self.values:
            return check.error(
                path, f"'{value}' is not {self.label}{did_you_mean(word, self.values)}"
            )
        return word

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


class Key(FieldKind):
    """One telephone key: 0-9, * or #."""

    holds_templates = False

    label = "one key: 0-9, * or #"

    def __init__(self, *, allow_none: bool = False):
        self.allow_none = allow_none

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
            return str(value)
        if self.allow_none and value in ("", None):
            return ""
        if not isinstance(value, str) or value not in KEYS:
            return self.wrong(value, path, check)
        return value

    def schema(self) -> dict[str, Any]:
        keys: list[Any] = list(KEYS) + list(range(10))
        if self.allow_none:
            keys.append("")
        return {"enum": keys}


class Currency(FieldKind):
    holds_templates = False
    label = "an ISO 4217 currency code such as GBP"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
            return self.wrong(value, path, check)
        return value.upper()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z]{3}$"}


class Timezone(FieldKind):
    holds_templates = False
    label = "an IANA time zone such as Europe/London"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str):
            return self.wrong(value, path, check)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return check.error(
                path,
                f"unknown time zone '{value}'{did_you_mean(value, available_timezones())}",
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}


class ListOf(FieldKind):
    def __init__(self, item: FieldKind, *, min_items: int = 0):
        self.item = item
        self.holds_templates = item.holds_templates
        self.min_items = min_items
        self.label = f"a list of {item.label}"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, list):
            return self.wrong(value, path, check)
        if len(value) < self.min_items:
            return check.error(
                path, f"expected at least {self.min_items} item(s), found {len(value)}"
            )
        items = [self.item.convert(v, path + (i,), check) for i, v in enumerate(value)]
        return INVALID if any(i is INVALID for i in items) else tuple(items)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            out["minItems"] = self.min_items
        return out


class MapOf(FieldKind):
    """A map whose keys are checked by `key` (a FieldKind or a regex) and values by `value`."""

    def __init__(self, value: FieldKind, key: FieldKind | None = None, *, min_items: int = 0):
        self.value = value
        self.holds_templates = value.holds_templates
        self.key = key
        self.min_items = min_items
        self.label = f"a map of {value.label}"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, dict):
            return self.wrong(value, path, check)
        if len(value) < self.min_items:
            return check.error(path, f"expected at least {self.min_items} entry, found none")
        out = {}
        bad = False
        for k, v in value.items():
            key = k
            if self.key is not None:
                key = self.key.convert(k, path + (k,), _KeyCheck(check))
                if key is INVALID:
                    bad = True
                    continue
            converted = self.value.convert(v, path + (k,), check)
            bad = bad or converted is INVALID
            out[key] = converted
        return INVALID if bad else out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.schema()}
        if isinstance(self.key, Name):
            out["propertyNames"] = {"pattern": f"^{NAME_RE.pattern}$"}
        elif isinstance(self.key, Key):
            out["propertyNames"] = {"enum": list(KEYS)}
        if self.min_items:
            out["minProperties"] = self.min_items
        return out


class _KeyCheck(Check):
    """Reports key errors at the key's position."""

    def __init__(self, inner: Check):
        super().__init__(inner.report, inner.secrets, inner.languages)

    def error(self, path: Path, message: str, *, key: bool = True) -> Any:
        self.report.error(path, message, key=True)
        return INVALID


class JsonValue(FieldKind):
    """Any JSON value for a request body; strings may hold placeholders and secrets."""

    label = "a JSON value"

    def __init__(self, *, secrets: bool = False):
        self.secrets = secrets

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, str):
            return compile_template(value, path, check, secrets_allowed=self.secrets)
        if isinstance(value, list):
            items = [self.convert(v, path + (i,), check) for i, v in enumerate(value)]
            return INVALID if any(i is INVALID for i in items) else items
        if isinstance(value, dict):
            out = {k: self.convert(v, path + (k,), check) for k, v in value.items()}
            return INVALID if any(v is INVALID for v in out.values()) else out
        return value

    def schema(self) -> dict[str, Any]:
        return {}


class Scalar(FieldKind):
    """Text with placeholders, a number or true/false (kept as typed)."""

    label = "text, a number or true/false"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, str):
            return compile_template(value, path, check, secrets_allowed=False)
        if value is None or isinstance(value, (bool, int, Decimal)):
            return value
        return self.wrong(value, path, check)

    def schema(self) -> dict[str, Any]:
        return {"type": ["string", "number", "boolean", "null"]}


class Struct(FieldKind):
    """A nested map with fixed keys, described by a frozen dataclass with `spec` fields."""

    def __init__(self, cls: type, label: str | None = None):
        self.cls = cls
        self.label = label or "a map"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, dict):
            return self.wrong(value, path, check)
        return convert_struct(self.cls, value, path, check)

    def schema(self) -> dict[str, Any]:
        return struct_schema(self.cls)


# --- dataclass-described structures -------------------------------------------------------


def spec(kind: FieldKind, doc: str, *, inherit: bool = False, key: str | None = None) -> Any:
    """Metadata of a config field: its kind, a one-line doc, and whether plan defaults apply."""
    return {"kind": kind, "doc": doc, "inherit": inherit, "key": key}


def yaml_name(f: dataclasses.Field) -> str:
    return f.metadata.get("key") or f.name


@functools.cache
def struct_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "kind" in f.metadata]


@functools.cache
def _fields_by_name(cls: type) -> dict[str, dataclasses.Field]:
    return {yaml_name(f): f for f in struct_fields(cls)}


@functools.cache
def template_fields(cls: type) -> tuple[str, ...]:
    """The fields of a config dataclass that may hold a Template (by their kind)."""
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if "kind" not in f.metadata or f.metadata["kind"].holds_templates
    )


def is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@functools.cache
def _conversion(cls: type) -> tuple[tuple[str, str, FieldKind, bool, bool], ...]:
    """Per field of `cls`, what converting a map into it needs, read from the dataclass once:
    (YAML key, attribute, kind, inherits plan defaults, required)."""
    return tuple(
        (yaml_name(f), f.name, f.metadata["kind"], f.metadata["inherit"], is_required(f))
        for f in struct_fields(cls)
    )


def convert_struct(
    cls: type,
    value: dict[str, Any],
    path: Path,
    check: Check,
    *,
    inherited: dict[str, Any] | None = None,
    extra_keys: tuple[str, ...] = (),
    what: str = "field",
) -> Any:
    """Convert a YAML map into `cls`, reporting unknown keys, missing keys and wrong values."""
    fields = _fields_by_name(cls)
    bad = False
    for key in value:
        if key not in fields and key not in extra_keys:
            hint = did_you_mean(key, list(fields) + list(extra_keys))
            synonym = SYNONYMS.get(key) if isinstance(key, str) else None
            if not hint and synonym in fields:
                hint = f" (use {synonym}: here)"
            check.error(path + (key,), f"unknown {what} '{key}'{hint}", key=True)
            bad = True
    kwargs: dict[str, Any] = {}
    for name, attribute, kind, inherit, required in _conversion(cls):
        if name in value:
            converted = kind.convert(value[name], path + (name,), check)
            if converted is INVALID:
                bad = True
                continue
            kwargs[attribute] = converted
        elif inherit and inherited and inherited.get(name) is not None:
            kwargs[attribute] = inherited[name]
        elif required:
            check.error(path, f"missing required {what} '{name}'")
            bad = True
    if bad:
        return INVALID
    obj = cls(**kwargs)
    validate = getattr(type(obj), "check_config", None)
    if validate is not None:
        before = len(check.report.errors)
        validate(obj, path, check)
        if len(check.report.errors) > before:
            return INVALID
    return obj


def struct_schema(
    cls: type, *, extra: dict[str, Any] | None = None, required_extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = list(required_extra)
    for f in struct_fields(cls):
        name = yaml_name(f)
        props[name] = dict(f.metadata["kind"].schema(), description=f.metadata["doc"])
        if is_required(f):
            required.append(name)
    props.update(extra or {})
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def walk_templates(value: Any) -> list[Template]:
    """Every Template inside a converted config (dataclasses, maps, lists), in order."""
    out: list[Template] = []
    _collect(value, out)
    return out


# Values that hold no template: skipped without a call (most fields of a config are these).
_LEAVES = frozenset({str, int, bool, Decimal, type(None)})


def _collect(value: Any, out: list[Template]) -> None:
    if isinstance(value, Template):
        out.append(value)
    elif isinstance(value, (str, int, Decimal)) or value is None:
        return
    elif isinstance(value, dict):
        for v in value.values():
            if type(v) is Template:
                out.append(v)
            elif type(v) not in _LEAVES:
                _collect(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            if type(v) is Template:
                out.append(v)
            elif type(v) not in _LEAVES:
                _collect(v, out)
    elif hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
        kind: Any = type(value)
        for name in template_fields(kind):
            v = getattr(value, name)
            if type(v) is Template:
                out.append(v)
            elif type(v) not in _LEAVES:
                _collect(v, out)
