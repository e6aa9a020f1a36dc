"""How call data is kept for people to read (call records, the console): values of names that
look secret are hidden, card-number-like digit runs are redacted, long values are cut. The
control is that secrets and card data never reach a call's data; this is what catches a
mistake, and keeps tokens and identity checks off screens."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from foundation.redaction import redact
from ivr.lang.languages import NUMBER_WORDS, normal

HIDDEN = "(hidden)"
MAX_CHARS = 200
# names whose values are not shown: tokens and keys, and what callers key to prove who they are
SENSITIVE = re.compile(
    r"token|secret|password|passcode|api_?key|cvv|cvc|security|verif|birth|dob", re.IGNORECASE
)
PIN = re.compile(r"(?:^|_|[a-z])(?:PIN|Pin|pin)(?=$|_|[A-Z0-9])")  # PIN, CardPin; not Spin


@lru_cache(maxsize=4096)
def is_sensitive(name: str) -> bool:
    """Whether data source `name` looks secret (asked for every value on every turn: the
    names are a plan's few, so the answer is kept)."""
    return bool(SENSITIVE.search(name) or PIN.search(name))


def shown(name: str, value: Any) -> str:
    """`value` of data source `name` as a record keeps it."""
    if is_sensitive(name):
        return HIDDEN
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = redact(text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def keyed(digits: str, into: str | None) -> str:
    """What a caller keyed, as a transcript shows it: hidden when it goes into a sensitive
    name, and never a card-number-like run."""
    if into and is_sensitive(into):
        return "•" * len(digits)
    return redact(digits)


def said_safely(words: str, into: str | None) -> str:
    """What a caller said, as a transcript keeps it: hidden when it goes into a sensitive
    name or holds a long number (a card number said digit by digit, in words or numerals)."""
    if into and is_sensitive(into):
        return "(hidden)"
    tokens = normal(words).split()
    digits = "".join(NUMBER_WORDS.get(t, "".join(filter(str.isdigit, t))) for t in tokens)
    if len(digits) >= 12:
        return "(a long number, hidden)"
    return redact(words)


def heard_safely(text: str, data: dict[str, Any], also: Iterable[Any] = ()) -> str:
    """A prompt as a transcript keeps it: the values of data sources that look secret, and
    `also` (three characters or more, as written or spoken digit by digit), hidden; card runs
    redacted."""
    secrets = [v for k, v in data.items() if is_sensitive(k) and isinstance(v, (str, int))]
    for value in [*secrets, *also]:
        secret = str(value).strip()
        if len(secret) < 3:
            continue
        text = text.replace(secret, HIDDEN).replace(" ".join(secret), HIDDEN)
    return redact(text)
