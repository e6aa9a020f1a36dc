"""Confirmation codes: 8 digits, so a caller can key one on a phone's key pad; spoken in pairs
("12 34 56 78"). Unique in the ledger (it draws again on the rare repeat)."""

from __future__ import annotations

import re
import secrets

LENGTH = 8
CODE = re.compile(rf"\d{{{LENGTH}}}")


def new_code() -> str:
    return f"{secrets.randbelow(10**LENGTH):0{LENGTH}d}"


def is_code(text: str) -> bool:
    return bool(CODE.fullmatch(text))


def spoken(code: str) -> str:
    """`12345678` as a voice reads it well: `12 34 56 78`."""
    return " ".join(code[i : i + 2] for i in range(0, len(code), 2))
