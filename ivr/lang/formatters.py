"""The `$(Name:formatter)` formatters: speakable money, dates and digits, and text helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from foundation.money import ZERO_DECIMAL_CURRENCIES, speakable


@dataclass(frozen=True)
class Formatting:
    """What formatters need to know about the call: plan currency, today's date there, the
    language to speak in, and (in a plan with `languages:`) its languages and their voices."""

    currency: str = "GBP"
    today: date | None = None
    language: str = ""
    languages: tuple[str, ...] = ()
    voices: Mapping[str, str] = field(default_factory=dict)


def to_text(value: Any) -> str:
    """The text a data source value renders as: `None` is empty, lists and maps are JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def to_decimal(value: Any) -> Decimal | None:
    """A decimal from a data source value, or None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def to_date(value: Any) -> date | None:
    """A date from `YYYY-MM-DD` (or an ISO date-time), else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = to_text(value).strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def currency(value: Any, fmt: Formatting) -> str:
    amount = to_decimal(value)
    if amount is None:
        return to_text(value)
    return speakable(amount, fmt.currency)


def digits(value: Any, fmt: Formatting) -> str:
    return " ".join(ch for ch in to_text(value) if not ch.isspace())


def pairs(value: Any, fmt: Formatting) -> str:
    text = "".join(ch for ch in to_text(value) if not ch.isspace())
    return " ".join(text[i : i + 2] for i in range(0, len(text), 2))


DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "cy": ("Dydd Llun", "Dydd Mawrth", "Dydd Mercher", "Dydd Iau", "Dydd Gwener",
           "Dydd Sadwrn", "Dydd Sul"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}  # fmt: skip
MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "cy": ("Ionawr", "Chwefror", "Mawrth", "Ebrill", "Mai", "Mehefin", "Gorffennaf", "Awst",
           "Medi", "Hydref", "Tachwedd", "Rhagfyr"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}  # fmt: skip


def speak_date(value: Any, fmt: Formatting) -> str:
    day = to_date(value)
    if day is None:
        return to_text(value)
    words = fmt.language[:2].lower()
    if words not in DAYS:
        words = "en"
    weekday, month = DAYS[words][day.weekday()], MONTHS[words][day.month - 1]
    this_year = fmt.today is not None and day.year == fmt.today.year
    if words == "es":  # "lunes 15 de noviembre de 2027"
        return f"{weekday} {day.day} de {month}" + ("" if this_year else f" de {day.year}")
    return f"{weekday} {day.day} {month}" + ("" if this_year else f" {day.year}")


def count(value: Any, fmt: Formatting) -> str:
    if isinstance(value, (list, dict)):
        return str(len(value))
    return "0" if value in (None, "") else "1"


def minor_units(value: Any, fmt: Formatting) -> str:
    amount = to_decimal(value)
    if amount is None:
        return to_text(value)
    places = 0 if fmt.currency.upper() in ZERO_DECIMAL_CURRENCIES else 2
    return str(int((amount * (10**places)).to_integral_value(rounding=ROUND_HALF_UP)))


def last4(value: Any, fmt: Formatting) -> str:
    return to_text(value)[-4:]


FORMATTERS: dict[str, Callable[[Any, Formatting], str]] = {
    "currency": currency,
    "digits": digits,
    "pairs": pairs,
    "date": speak_date,
    "count": count,
    "urlencode": lambda v, f: quote(to_text(v), safe=""),
    "json": lambda v, f: json.dumps(to_text(v)),
    "lower": lambda v, f: to_text(v).lower(),
    "upper": lambda v, f: to_text(v).upper(),
    "last4": last4,
    "minor_units": minor_units,
    "remove_leading_plus": lambda v, f: to_text(v).removeprefix("+"),
}

FORMATTER_DOCS = {
    "currency": "speakable amount in the plan currency: `£42.50`, `£100`",
    "digits": "one character at a time, for text-to-speech: `1 2 3 4`",
    "pairs": "two characters at a time (confirmation codes): `12 34 56 78`",
    "date": "speakable date in the caller's language; the year only when not this year: "
    "`Friday 15 November`, `Dydd Gwener 15 Tachwedd`",
    "count": "number of items in a list (0 when missing)",
    "urlencode": "percent-encoded for a URL path or query",
    "json": "a JSON string literal, quotes included",
    "lower": "lower case",
    "upper": "upper case",
    "last4": "the last four characters",
    "minor_units": "amount in minor units: `42.50` → `4250`",
    "remove_leading_plus": "drops a leading `+`: `+442071230001` → `442071230001`",
}
