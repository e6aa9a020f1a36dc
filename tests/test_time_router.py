"""time_router: open and closed by local weekday ranges, closed dates and daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def route(make_engine: Any, call: Any, clock: Any, plan: str, when: datetime) -> str:
    clock.set(when)
    c = call(make_engine(f"{plan}.yaml"), plan_id=plan)
    assert c.ended
    return "open" if c.heard == ["We are open."] else "closed"


# route_time: Europe/London from the plan defaults; mon-fri "08:00-12:00, 13:00-17:30",
# sat "09:00-24:00", no sun entry, closed on 2026-12-25. November is GMT, so UTC = local.
@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-16 07:59", "closed"),  # Monday, before opening
        ("2026-11-16 08:00", "open"),  # start inclusive
        ("2026-11-16 11:59", "open"),
        ("2026-11-16 12:00", "closed"),  # end exclusive: lunch
        ("2026-11-16 12:59", "closed"),
        ("2026-11-16 13:00", "open"),  # second comma-separated range
        ("2026-11-16 17:29", "open"),
        ("2026-11-16 17:30", "closed"),
        ("2026-11-20 10:00", "open"),  # Friday: mon-fri includes fri
        ("2026-11-18 15:00", "open"),  # Wednesday
        ("2026-11-21 08:59", "closed"),  # Saturday
        ("2026-11-21 09:00", "open"),
        ("2026-11-21 23:59", "open"),  # 24:00 end
        ("2026-11-22 00:00", "closed"),  # Sunday: no entry
        ("2026-11-22 12:00", "closed"),
        ("2026-12-25 10:00", "closed"),  # Friday, but a closed date
        ("2026-12-24 10:00", "open"),
    ],
)
def test_weekly_hours(make_engine: Any, call: Any, clock: Any, when: str, expected: str) -> None:
    assert route(make_engine, call, clock, "route_time", utc(when)) == expected


def test_path_and_outcome(make_engine: Any, call: Any, clock: Any) -> None:
    clock.set(utc("2026-11-16 09:00"))
    c = call(make_engine("route_time.yaml"), plan_id="route_time")
    assert c.path == [("hours", "open"), ("is_open", "end")]
    assert c.record().outcome == "Open"
    clock.set(utc("2026-11-16 19:00"))
    c = call(c.engine, plan_id="route_time")
    assert c.path == [("hours", "closed"), ("is_closed", "end")]
    assert c.record().outcome == "Closed"


def test_local_time_of_the_plan_timezone_in_summer(make_engine: Any, call: Any, clock: Any) -> None:
    # 2026-07-06 is a Monday; 07:30 UTC is 08:30 BST (open), 16:45 UTC is 17:45 BST (closed)
    assert route(make_engine, call, clock, "route_time", utc("2026-07-06 07:30")) == "open"
    assert route(make_engine, call, clock, "route_time", utc("2026-07-06 16:45")) == "closed"


# route_time_dst: the applet's own timezone Europe/London (plan default UTC); mon-fri
# "08:00-17:00", sun "09:00-10:00". Each "open" instant below is closed in UTC and each
# "closed" one is open in UTC until the autumn change; after it, the instants catch a router that
# kept the summer offset. A router that ignored the zone or its DST rules would fail.
@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-03-29 08:30", "open"),  # Sunday of the spring change: 09:30 BST
        ("2026-03-29 09:30", "closed"),  # 10:30 BST
        ("2026-03-30 07:30", "open"),  # Monday after: 08:30 BST
        ("2026-03-30 16:30", "closed"),  # 17:30 BST
        ("2026-03-27 07:30", "closed"),  # Friday before: 07:30 GMT
        ("2026-10-23 07:30", "open"),  # Friday before the autumn change: 08:30 BST
        ("2026-10-23 16:30", "closed"),  # 17:30 BST
        ("2026-10-25 09:30", "open"),  # Sunday of the autumn change: 09:30 GMT (not 10:30)
        ("2026-10-25 08:30", "closed"),  # 08:30 GMT (not 09:30)
        ("2026-10-26 16:30", "open"),  # Monday after: 16:30 GMT (not 17:30)
        ("2026-10-26 07:30", "closed"),  # 07:30 GMT (not 08:30)
    ],
)
def test_daylight_saving_changes(
    make_engine: Any, call: Any, clock: Any, when: str, expected: str
) -> None:
    assert route(make_engine, call, clock, "route_time_dst", utc(when)) == expected


@pytest.mark.parametrize(
    "when",
    [
        "2026-11-16 00:00",
        "2026-11-16 12:00",
        "2026-11-20 23:59",
        "2026-11-21 10:00",
        "2026-11-22 15:00",
    ],
)
def test_empty_hours_are_always_closed(make_engine: Any, call: Any, clock: Any, when: str) -> None:
    assert route(make_engine, call, clock, "route_time_never", utc(when)) == "closed"


# route_time_allday: open every minute of every day, closed on 2026-07-06 and 2026-11-16.
@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-07-05 22:59", "open"),  # Sunday 23:59 BST
        ("2026-07-05 23:30", "closed"),  # Monday 00:30 BST, a closed date (UTC still says the 5th)
        ("2026-07-06 22:30", "closed"),  # Monday 23:30 BST
        ("2026-07-06 23:30", "open"),  # Tuesday 00:30 BST (UTC still says the 6th)
        ("2026-11-15 23:59", "open"),
        ("2026-11-16 00:00", "closed"),
        ("2026-11-16 23:59", "closed"),
        ("2026-11-17 00:00", "open"),
        ("2026-11-22 00:00", "open"),  # Sunday, given by mon-sun
    ],
)
def test_closed_dates_are_local_dates(
    make_engine: Any, call: Any, clock: Any, when: str, expected: str
) -> None:
    assert route(make_engine, call, clock, "route_time_allday", utc(when)) == expected
