"""The dashboard's figures over a period: the calls as the recorder counts them (per day,
outcome and plan, containment, where abandoned calls were) and the payments as the bridge's
API lists them (taken, amounts, outcomes, decline reasons)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any


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


@dataclass(frozen=True)
class Figures:
    """The calls of `period` as the recorder counted them (`SqlRecorder.figures`)."""

    period: Period
    counted: Any

    @property
    def calls(self) -> int:
        return int(self.counted.calls)

    @property
    def test(self) -> bool:
        """These are the softphone's test calls (else the live ones)."""
        return bool(getattr(self.counted, "test", False))

    @property
    def others(self) -> int:
        """Calls of the other kind (test or live) in the period, not counted here."""
        return int(getattr(self.counted, "others", 0))

    @property
    def per_day(self) -> list[tuple[str, int]]:
        """Every day of the period, with its calls (0 for a quiet day)."""
        days = [
            (self.period.first + timedelta(days=n)).isoformat() for n in range(self.period.days)
        ]
        return [(day, self.counted.per_day.get(day, 0)) for day in days]

    @property
    def outcomes(self) -> list[tuple[str, int]]:
        return [(name or "(none)", n) for name, n in self.counted.outcomes]

    @property
    def plans(self) -> list[tuple[str, int]]:
        return [(name or "(a number with no plan)", n) for name, n in self.counted.plans]

    @property
    def left_at(self) -> list[tuple[str, int]]:
        return list(self.counted.left_at)

    @property
    def seconds_median(self) -> int:
        return int(self.counted.seconds_median)

    @property
    def containment(self) -> int | None:
        """Per cent of calls that ended without an agent (None with no call to judge)."""
        judged, agent = self.counted.judged, self.counted.reached_agent
        return round(100 * (judged - agent) / judged) if judged else None


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
