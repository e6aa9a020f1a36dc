"""Phone numbers: E.164, and caller IDs as Twilio presents them."""

from __future__ import annotations

import re

# +, a country code that does not start with 0, up to 15 digits in all
E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# What Twilio (and carriers) put in `From` when the caller withheld their number.
WITHHELD = frozenset({"", "anonymous", "+266696687", "unknown", "restricted", "private"})


def presented_clid(caller: str | None) -> str:
    """The caller's number, or "" when it was withheld."""
    caller = (caller or "").strip()
    return "" if caller.lower() in WITHHELD else caller
