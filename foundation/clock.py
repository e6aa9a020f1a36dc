"""The default clock: timezone-aware UTC now (injected everywhere, so tests choose the time)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
