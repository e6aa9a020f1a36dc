"""Caller IDs as Twilio presents them."""

from __future__ import annotations

# What Twilio (and carriers) put in `From` when the caller withheld their number.
WITHHELD = frozenset({"", "anonymous", "+266696687", "unknown", "restricted", "private"})


def presented_clid(caller: str | None) -> str:
    """The caller's number, or "" when it was withheld."""
    caller = (caller or "").strip()
    return "" if caller.lower() in WITHHELD else caller
