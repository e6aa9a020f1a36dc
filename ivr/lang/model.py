"""The loaded call plan: frozen dataclasses that carry structure only (behaviour is in applets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.lang.fields import (
    AppletRef,
    Currency,
    Integer,
    JsonValue,
    Key,
    ListOf,
    MapOf,
    Name,
    Phone,
    Struct,
    Text,
    Timezone,
    spec,
)
from ivr.lang.languages import Language, Languages
from ivr.lang.templates import Template

BUILTIN_SOURCES = (
    "CLID",
    "DDI",
    "CallSid",
    "PlanId",
    "InteractionStartTime",
    "Language",
    "InteractionOutcome",
    "Today",
)
COMMON_APPLET_KEYS = ("type", "description", "next", "on")


@dataclass(frozen=True, kw_only=True)
class Defaults:
    """`defaults:` — inherited by every applet that has the field."""

    voice: Template | None = field(
        default=None, metadata=spec(Text(numbers=False), "text-to-speech voice, e.g. Polly.Amy")
    )
    language: Template | None = field(
        default=None,
        metadata=spec(
            Text(numbers=False), "speech language, e.g. en-GB; also the Language data source"
        ),
    )
    timeout: int | Template | None = field(
        default=None, metadata=spec(Integer(1, 60), "seconds to wait for a key press")
    )
    retries: int | Template | None = field(
        default=None, metadata=spec(Integer(0, 10), "re-prompts after a no-input or invalid input")
    )
    finish_on_key: str | None = field(
        default=None, metadata=spec(Key(allow_none=True), "key that ends a digit entry")
    )
    ring_timeout: int | Template | None = field(
        default=None, metadata=spec(Integer(5, 600), "seconds to ring a transfer destination")
    )
    currency: str = field(
        default="GBP",
        metadata=spec(Currency(), "ISO 4217 code for the currency formatter and amounts"),
    )
    timezone: str = field(
        default="UTC", metadata=spec(Timezone(), "IANA time zone for dates, Today and time routing")
    )

    def inherited(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, kw_only=True)
class Position:
    """Where an applet sits on an editor's canvas (`layout:`); the call never reads it."""

    x: int = field(metadata=spec(Integer(-1_000_000, 1_000_000, placeholders=False), "across"))
    y: int = field(metadata=spec(Integer(-1_000_000, 1_000_000, placeholders=False), "down"))


@dataclass(frozen=True, kw_only=True)
class Budget:
    """What a call may cost its caller at most (`budget:`), checked by `ivr test`."""

    max_seconds: int | None = field(
        default=None,
        metadata=spec(
            Integer(1, 86_400, placeholders=False),
            "longest a scenario's call may last on the simulator's clock, in seconds",
        ),
    )
    max_entries: int | None = field(
        default=None,
        metadata=spec(
            Integer(1, 1_000, placeholders=False), "most entries (keys or words) a caller makes"
        ),
    )


@dataclass(frozen=True, kw_only=True)
class PlanHeader:
    """The top-level keys of a plan file (used for checking and the JSON Schema)."""

    plan: str = field(metadata=spec(Name(), "plan id: [a-z][a-z0-9_]*, unique in callplans/"))
    description: str | None = field(default=None, metadata=spec(Text(), "what the plan is for"))
    numbers: tuple[Template, ...] = field(
        default=(),
        metadata=spec(
            ListOf(Phone(placeholders=False)), "E.164 numbers (DDIs) answered by this plan"
        ),
    )
    start: str = field(metadata=spec(AppletRef(), "id of the first applet"))
    fallback: str | None = field(
        default=None,
        metadata=spec(AppletRef(), "applet used for an unrouted outcome or an engine error"),
    )
    languages: tuple[Language, ...] = field(
        default=(),
        metadata=spec(
            Languages(),
            "languages the plan speaks, the first the default: prompts may then be given "
            "per language (`say: {en-GB: ..., cy-GB: ...}`) and follow the Language data "
            "source; a map tag → {voice: NAME} gives each its voice",
        ),
    )
    defaults: Defaults = field(
        default_factory=Defaults,
        metadata=spec(
            # kind set below to avoid a forward reference
            Text(),
            "values inherited by every applet that has the field",
        ),
    )
    data: dict[str, Any] = field(
        default_factory=dict,
        metadata=spec(MapOf(JsonValue(), Name()), "constant data sources available from the start"),
    )
    secrets: tuple[str, ...] = field(
        default=(),
        metadata=spec(ListOf(Name()), "names #(NAME) may use; values come from the environment"),
    )
    applets: dict[str, Any] = field(
        default_factory=dict, metadata=spec(MapOf(Text()), "applet id → applet")
    )
    budget: Budget | None = field(
        default=None,
        metadata=spec(
            Struct(Budget, "a map {max_seconds, max_entries}"),
            "what a call may cost the caller at most: `ivr test` fails a scenario of this "
            "plan over it",
        ),
    )
    layout: dict[str, Position] = field(
        default_factory=dict,
        metadata=spec(
            MapOf(Struct(Position, "a position {x, y}")),
            "applet id → {x, y}: where an editor draws each applet (kept by `ivr import "
            "studio` from the Studio canvas); calls ignore it",
        ),
    )


@dataclass(frozen=True)
class AppletSpec:
    """One applet of a plan: its type, converted config and outcome routes."""

    id: str
    type: str
    config: Any
    routes: Mapping[str, str]
    description: str | None = None


@dataclass(frozen=True)
class Plan:
    """A call plan that passed every check."""

    id: str
    start: str
    applets: Mapping[str, AppletSpec]
    version: str
    file: str = "<string>"
    description: str | None = None
    numbers: tuple[str, ...] = ()
    fallback: str | None = None
    defaults: Defaults = field(default_factory=Defaults)
    data: Mapping[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    source: str = ""
    layout: Mapping[str, Position] = field(default_factory=dict)
    budget: Budget | None = None
    languages: tuple[Language, ...] = ()
