"""Money as a caller hears it: a currency symbol and grouped digits."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥", "AUD": "A$", "CAD": "C$"}
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF"})


def speakable(amount: Decimal, code: str) -> str:
    """`£72.50`, `£72` (no pence when whole), `-$5`, `1,000 CHF` (no symbol known)."""
    code = code.upper()
    sign = "-" if amount < 0 else ""
    places = Decimal(1) if code in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    amount = abs(amount).quantize(places, rounding=ROUND_HALF_UP)
    if amount == amount.to_integral_value():
        text = f"{amount.quantize(Decimal(1)):,}"
    else:
        text = f"{amount:,}"
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code}"
