"""Card rules: Luhn, brand by IIN prefix (longest first), lengths, security code, expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from foundation.digits import is_digits, luhn_valid
from pci_bridge.prompts import PROMPTS

# (brand, prefix ranges as (low, high) over the same number of digits, lengths, code length)
_BRANDS: list[tuple[str, list[tuple[str, str]], tuple[int, ...], int]] = [
    ("visa", [("4", "4")], (13, 16, 19), 3),
    ("mastercard", [("51", "55"), ("2221", "2720")], (16,), 3),
    ("amex", [("34", "34"), ("37", "37")], (15,), 4),
    ("discover", [("6011", "6011"), ("644", "649"), ("65", "65")], (16, 19), 3),
    ("diners", [("300", "305"), ("36", "36"), ("38", "39")], (14, 16, 19), 3),
    ("jcb", [("3528", "3589")], (16, 17, 18, 19), 3),
    ("unionpay", [("62", "62")], (16, 17, 18, 19), 3),
    ("maestro", [("50", "50"), ("56", "58"), ("6", "6")], tuple(range(12, 20)), 3),
]
BRAND_NAMES = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "maestro": "Maestro",
}
DEFAULT_ACCEPTED = ("visa", "mastercard", "amex")


@dataclass(frozen=True)
class Brand:
    name: str
    lengths: tuple[int, ...]
    code_length: int

    @property
    def label(self) -> str:
        return BRAND_NAMES[self.name]


def brand_of(number: str) -> Brand | None:
    """The brand whose longest matching prefix fits `number` (Maestro's `6` is the fallback)."""
    best: tuple[int, Brand] | None = None
    for name, ranges, lengths, code in _BRANDS:
        for low, high in ranges:
            size = len(low)
            head = number[:size]
            if len(head) == size and low <= head <= high and (best is None or size > best[0]):
                best = (size, Brand(name, lengths, code))
    return best[1] if best else None


def brand_named(name: str) -> Brand | None:
    """The brand with this name (as stored for a payment leg)."""
    for brand_name, _, lengths, code in _BRANDS:
        if brand_name == name:
            return Brand(brand_name, lengths, code)
    return None


class CardProblem(ValueError):
    """Why an entry is not acceptable: a reason code and the prompt (pci_bridge/prompts.py)
    that tells the caller, with the values it is spoken with."""

    def __init__(self, reason: str, prompt: str, **values: object):
        self.reason = reason
        self.prompt = prompt
        self.values = values
        super().__init__(reason)

    @property
    def spoken(self) -> str:
        """The default wording (the leg speaks the configured one)."""
        return PROMPTS[self.prompt].format(**self.values)


def check_number(number: str, accepted: tuple[str, ...]) -> Brand:
    if not is_digits(number) or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise CardProblem("invalid_number", "invalid_number")
    brand = brand_of(number)
    if brand is None or len(number) not in brand.lengths:
        raise CardProblem("invalid_number", "invalid_number")
    if brand.name not in accepted:
        raise CardProblem("card_type_not_accepted", "brand_not_accepted", brand=brand.label)
    return brand


def check_expiry(entry: str, today: date) -> tuple[int, int]:
    """MMYY → (month, four-digit year); valid through the last day of its month."""
    if len(entry) != 4 or not is_digits(entry):
        raise CardProblem("invalid_expiry", "expiry_format")
    month, year = int(entry[:2]), 2000 + int(entry[2:])
    if not 1 <= month <= 12:
        raise CardProblem("invalid_expiry", "invalid_expiry")
    if (year, month) < (today.year, today.month):
        raise CardProblem("expired", "expired")
    if (year, month) > (today.year + 20, today.month):
        raise CardProblem("invalid_expiry", "invalid_expiry")
    return month, year


def check_code(entry: str, brand: Brand) -> str:
    if not is_digits(entry) or len(entry) != brand.code_length:
        raise CardProblem("wrong_length", "code_length", code_length=brand.code_length)
    return entry
