"""The dashboard's figures, worked out from call records over a period: calls per day, outcomes,
plans, and where callers leave each plan (the last applet of calls that did not reach an end
the plan chose)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

ABANDONED = "Abandoned"  # the engine's outcome for a caller who hung up mid-plan


@dataclass
class Period:
    first: date
    last: date  # inclusive

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def since(self) -> str:
        return self.first.isoformat()

    def until(self) -> str:
        return (self.last + timedelta(days=1)).isoformat()


@dataclass
class Figures:
    period: Period
    calls: int = 0
    per_day: list[tuple[str, int]] = field(default_factory=list)
    outcomes: list[tuple[str, int]] = field(default_factory=list)
    plans: list[tuple[str, int]] = field(default_factory=list)
    left_at: list[tuple[str, int]] = field(default_factory=list)  # "plan / applet"
    seconds_median: int = 0
    contained: int = 0  # calls that ended without reaching an agent
    judged: int = 0  # calls whose plan says whether they did

    @property
    def containment(self) -> int | None:
        """Per cent of calls that ended without an agent (None with no call to judge)."""
        return round(100 * self.contained / self.judged) if self.judged else None


@dataclass
class PaymentFigures:
    taken: int = 0  # successful payments
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)  # per currency
    outcomes: list[tuple[str, int]] = field(default_factory=list)
    declines: list[tuple[str, int]] = field(default_factory=list)  # reasons
    seen: int = 0
    truncated: bool = False
    unavailable: str | None = None  # why there are none (the bridge did not answer)


def payment_figures(payments: list[dict[str, Any]], *, truncated: bool) -> PaymentFigures:
    out = PaymentFigures(seen=len(payments), truncated=truncated)
    sums: dict[str, Decimal] = {}
    outcomes: Counter[str] = Counter()
    declines: Counter[str] = Counter()
    for p in payments:
        outcome = p.get("outcome") or p.get("state") or "unknown"
        outcomes[outcome] += 1
        if outcome == "success":
            out.taken += 1
            currency = p.get("currency") or ""
            sums[currency] = sums.get(currency, Decimal(0)) + Decimal(p.get("amount") or "0")
        elif outcome == "declined":
            gateway = p.get("gateway") or {}
            declines[gateway.get("decline_code") or gateway.get("message") or "unknown"] += 1
    out.amounts = sorted(sums.items())
    out.outcomes = outcomes.most_common()
    out.declines = declines.most_common(10)
    return out


def period_of(first: str | None, last: str | None, today: date, default_days: int = 7) -> Period:
    """The period asked for (ISO dates), else the last `default_days` days; ValueError for a
    date that cannot be read or a period that ends before it starts."""
    end = date.fromisoformat(last) if last else today
    start = date.fromisoformat(first) if first else end - timedelta(days=default_days - 1)
    if start > end:
        raise ValueError(f"the period starts ({start}) after it ends ({end})")
    if (end - start).days > 366:
        raise ValueError("choose a period of at most a year")
    return Period(start, end)


def figures(counted: Any, period: Period) -> Figures:
    """The dashboard's call figures from the recorder's counts (`SqlRecorder.figures`)."""
    out = Figures(period=period, calls=counted.calls)
    out.per_day = [
        ((period.first + timedelta(days=n)).isoformat(),
         counted.per_day.get((period.first + timedelta(days=n)).isoformat(), 0))
        for n in range(period.days)
    ]  # fmt: skip
    out.outcomes = [(name or "(none)", n) for name, n in counted.outcomes]
    out.plans = [(name or "(a number with no plan)", n) for name, n in counted.plans]
    out.judged = counted.judged
    out.contained = counted.judged - counted.reached_agent
    out.left_at = counted.left_at
    out.seconds_median = counted.seconds_median
    return out
