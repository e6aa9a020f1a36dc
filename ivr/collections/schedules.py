"""What a payment plan's schedule may be: 1, 2 or 3 monthly payments of the amount due, from
today or from a day of the month the customer chooses, or a custom list of payments within the
configured limits (how many, how far ahead, how small)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ivr.collections.cases import NotAllowed

MAX_MONTHS = 3  # a plan of monthly payments: 1, 2 or 3
LAST_PAYMENT_DAY = 28  # a chosen day of the month exists in every month
AMOUNT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")  # a plain decimal of at most two places


class BadSchedule(NotAllowed):
    """A schedule asked for that the limits do not allow (what is wrong is said)."""


@dataclass(frozen=True)
class PlanLimits:
    """`collections.plans` in config.yaml: the bounds of a custom plan, and how a declined
    scheduled payment is tried again."""

    max_payments: int = 6
    max_days: int = 92  # the last payment at most this many days after the plan is set up
    first_within_days: int = 31  # the first payment at most this many days ahead
    min_payment_minor: int = 100  # 1.00 in the case's currency
    retry_gap: timedelta = timedelta(days=3)  # a declined payment is tried again this later
    max_tries: int = 3  # charge attempts per payment


Schedule = list[tuple[int, date]]  # (amount in minor units, due date), in date order


def split(amount_minor: int, parts: int) -> list[int]:
    """`amount_minor` in `parts` as equal as pennies allow (the odd pennies first)."""
    base, odd = divmod(amount_minor, parts)
    return [base + (1 if n < odd else 0) for n in range(parts)]


def monthly(first: date, months: int) -> list[date]:
    """`first`, then the same day of each following month (the month's last day when it is
    shorter)."""
    days = []
    for n in range(months):
        year, month = divmod(first.month - 1 + n, 12)
        year += first.year
        last = calendar.monthrange(year, month + 1)[1]
        days.append(date(year, month + 1, min(first.day, last)))
    return days


def next_day_of_month(today: date, day: int) -> date:
    """The next date (today included) that falls on `day` of its month."""
    if not 1 <= day <= LAST_PAYMENT_DAY:
        raise BadSchedule(f"a payment day is from 1 to {LAST_PAYMENT_DAY}, not {day}")
    if today.day <= day:
        return today.replace(day=day)
    return monthly(today.replace(day=day), 2)[1]


def monthly_schedule(
    amount_minor: int, months: int, first: date, limits: PlanLimits | None = None
) -> Schedule:
    """`months` monthly payments of the amount from `first`, each at least the limits'
    smallest payment."""
    if not 1 <= months <= MAX_MONTHS:
        raise BadSchedule(f"a plan has 1 to {MAX_MONTHS} monthly payments, not {months}")
    parts = split(amount_minor, months)
    least = (limits or PlanLimits()).min_payment_minor
    if months > 1 and min(parts) < least:
        raise BadSchedule(
            f"months: {months} payments would be less than {Decimal(least).scaleb(-2)} each: "
            "fewer payments"
        )
    return list(zip(parts, monthly(first, months), strict=True))


def custom_schedule(payments: Any, amount_minor: int, today: date, limits: PlanLimits) -> Schedule:
    """A list of {"amount": "12.50", "due_date": "2026-12-20"} checked against the limits:
    together they pay the amount due, in date order, none before today."""
    if not isinstance(payments, list) or not payments:
        raise BadSchedule("payments: expected a list of {amount, due_date}")
    if len(payments) > limits.max_payments:
        raise BadSchedule(f"payments: at most {limits.max_payments} in a plan, not {len(payments)}")
    schedule: Schedule = []
    for n, payment in enumerate(payments, start=1):
        if not isinstance(payment, dict):
            raise BadSchedule(f"payments[{n}]: expected {{amount, due_date}}")
        minor = _minor(payment.get("amount"), f"payments[{n}].amount")
        due = _date(payment.get("due_date"), f"payments[{n}].due_date")
        if minor < limits.min_payment_minor:
            raise BadSchedule(
                f"payments[{n}].amount: at least {Decimal(limits.min_payment_minor).scaleb(-2)}"
            )
        if due < today:
            raise BadSchedule(f"payments[{n}].due_date: {due} is in the past")
        if schedule and due <= schedule[-1][1]:
            raise BadSchedule(f"payments[{n}].due_date: {due} is not after the payment before it")
        schedule.append((minor, due))
    if schedule[0][1] > today + timedelta(days=limits.first_within_days):
        raise BadSchedule(
            f"payments[1].due_date: the first payment is at most {limits.first_within_days} "
            "days ahead"
        )
    if schedule[-1][1] > today + timedelta(days=limits.max_days):
        raise BadSchedule(
            f"payments[{len(schedule)}].due_date: the last payment is at most "
            f"{limits.max_days} days ahead"
        )
    total = sum(minor for minor, _ in schedule)
    if total != amount_minor:
        raise BadSchedule(
            f"payments: they add up to {Decimal(total).scaleb(-2)}, not the amount due "
            f"{Decimal(amount_minor).scaleb(-2)}"
        )
    return schedule


def _minor(value: Any, where: str) -> int:
    text = str(value)
    if isinstance(value, bool) or not AMOUNT.fullmatch(text):
        raise BadSchedule(f"{where}: '{text[:20]}' is not an amount like 12.50")
    return int(Decimal(text).scaleb(2))


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadSchedule(f"{where}: '{value}' is not a date like 2026-12-20") from None
