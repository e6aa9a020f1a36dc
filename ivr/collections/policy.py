"""A campaign's contact policy (collections.md "Contact"): the channels in order, how many
attempts, the gap between them, and the calling hours in the customer's own time zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    CALL = "call"


# Channels that reach a person at once (a phone rings, a text buzzes): only in calling hours.
IN_HOURS = frozenset({Channel.SMS, Channel.CALL})


@dataclass(frozen=True)
class ContactPolicy:
    channels: tuple[Channel, ...] = (Channel.SMS, Channel.EMAIL)
    attempts: int = 3  # rounds through the channels
    gap: timedelta = timedelta(days=2)  # between rounds
    hours_from: time = time(9, 0)  # calling hours, the customer's local time
    hours_to: time = time(20, 0)
    plan: str = "collections_outbound"  # the plan that answers this campaign's calls

    def in_hours(self, now: datetime, zone: str) -> bool:
        local = now.astimezone(ZoneInfo(zone)).time()
        return self.hours_from <= local < self.hours_to

    def next_opening(self, now: datetime, zone: str) -> datetime:
        """The next moment calling hours begin in `zone` (now, when they are open)."""
        if self.in_hours(now, zone):
            return now
        tz = ZoneInfo(zone)
        local = now.astimezone(tz)
        day = local.date()
        if local.time() >= self.hours_from:
            day += timedelta(days=1)
        return datetime.combine(day, self.hours_from, tzinfo=tz).astimezone(now.tzinfo)

    def channels_now(self, now: datetime, zone: str) -> tuple[Channel, ...]:
        """The channels that may be used at `now` for a customer in `zone`."""
        if self.in_hours(now, zone):
            return self.channels
        return tuple(c for c in self.channels if c not in IN_HOURS)


def read_policy(raw: Mapping[str, Any]) -> ContactPolicy:
    """A policy from its config map (already checked against the schema)."""
    channels = tuple(Channel(str(c)) for c in raw.get("channels", ["sms", "email"]))
    hours = str(raw.get("calling_hours", "09:00-20:00"))
    start, end = (time.fromisoformat(part.strip()) for part in hours.split("-", 1))
    if start >= end:
        raise ValueError(
            f"calling_hours: '{hours}' ends before it starts (hours within one day, as 09:00-20:00)"
        )
    return ContactPolicy(
        channels=channels,
        attempts=int(raw.get("attempts", 3)),
        gap=timedelta(hours=float(raw.get("gap_hours", 48))),
        hours_from=start,
        hours_to=end,
        plan=str(raw.get("plan", "collections_outbound")),
    )
