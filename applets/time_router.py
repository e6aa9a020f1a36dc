"""time_router: route on the local time of day and closed dates (VCC Router - Time Based)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from ivr.engine.protocol import Applet, Context, Decision, Outcome
from ivr.lang.diagnostics import Path
from ivr.lang.fields import INVALID, Check, FieldKind, ListOf, Timezone, found, spec

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Week = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Mon=0): (start, end) minutes


class Hours(FieldKind):
    """`{mon: "08:00-20:00", sat: "09:00-13:00, 14:00-16:00", mon-fri: ...}` → per-day ranges."""

    label = 'a map of days to "HH:MM-HH:MM" ranges'

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, dict):
            return self.wrong(value, path, check)
        week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        given: dict[int, str] = {}
        bad = False
        for key, ranges in value.items():
            where = path + (key,)
            days = _days(key)
            if days is None:
                from foundation.suggest import did_you_mean

                check.error(
                    where,
                    f"unknown day '{key}'{did_you_mean(key, DAYS)}: use mon..sun "
                    "or a range such as mon-fri",
                    key=True,
                )
                bad = True
                continue
            for d in days:
                if d in given:
                    check.error(where, f"{DAYS[d]} is already given by '{given[d]}'", key=True)
                    bad = True
                given[d] = key
            parsed = _ranges(ranges, where, check)
            if parsed is INVALID:
                bad = True
                continue
            for d in days:
                week[d].extend(parsed)
        return INVALID if bad else tuple(tuple(sorted(day)) for day in week)

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {
                "pattern": "^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$"
            },
            "additionalProperties": {"type": "string"},
        }


def _days(key: str) -> list[int] | None:
    key = key.strip().lower()
    if key in DAYS:
        return [DAYS.index(key)]
    first, sep, last = key.partition("-")
    if sep and first in DAYS and last in DAYS:
        a, b = DAYS.index(first), DAYS.index(last)
        return [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    return None


def _ranges(value: Any, path: Path, check: Check) -> Any:
    if not isinstance(value, str):
        return check.error(path, f'expected "HH:MM-HH:MM" ranges, found {found(value)}')
    if value.strip().lower() == "closed":
        return []
    out = []
    for part in value.split(","):
        m = _RANGE.match(part)
        if not m:
            return check.error(path, f"'{part.strip()}' is not a time range like 08:00-20:00")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60:
            return check.error(
                path, f"'{part.strip()}' has an impossible time (24:00 is the latest end)"
            )
        if end <= start:
            return check.error(
                path,
                f"'{part.strip()}' ends before it starts; split a range "
                "that crosses midnight into two days",
            )
        out.append((start, end))
    return out


class ClosedDate(FieldKind):
    label = "a date as YYYY-MM-DD"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return self.wrong(value, path, check)
        try:
            return date.fromisoformat(value)
        except ValueError:
            return check.error(path, f"'{value}' is not a real date")

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


@dataclass(frozen=True, kw_only=True)
class TimeRouterConfig:
    timezone: str = field(
        default="UTC",
        metadata=spec(Timezone(), "IANA time zone of the opening hours", inherit=True),
    )
    hours: Week = field(
        metadata=spec(
            Hours(),
            'opening hours per day: {mon: "08:00-20:00", mon-fri: ..., sat: "09:00-13:00"};'
            " a day not listed is closed",
        )
    )
    closed_dates: tuple[date, ...] = field(
        default=(), metadata=spec(ListOf(ClosedDate()), "dates closed all day, winning over hours")
    )


def is_open(config: TimeRouterConfig, when: Any) -> bool:
    local = when.astimezone(ZoneInfo(config.timezone))
    if local.date() in config.closed_dates:
        return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in config.hours[local.weekday()])


class TimeRouterApplet(Applet):
    type_name = "time_router"
    doc = "Route on the time of day (VCC Router - Time Based): open or closed."
    outcomes = ("open", "closed")
    Config = TimeRouterConfig

    def enter(self, ctx: Context) -> Decision:
        return Outcome.of("open" if is_open(self.config, ctx.now()) else "closed")
