"""Digit strings: ASCII digits only, and the Luhn check digit of card numbers."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")


def is_digits(text: str) -> bool:
    """ASCII digits only (str.isdigit() would also take other scripts' digits)."""
    return bool(_DIGITS.fullmatch(text))


def luhn_valid(digits: str) -> bool:
    if not is_digits(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
