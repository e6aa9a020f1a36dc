"""The default clock: timezone-aware UTC now (injected everywhere, so tests choose the time)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time read back from a database: SQLite drops the zone of what was written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_utc(text: str) -> datetime:
    """An ISO 8601 date-time (`Z` for UTC allowed); one without a zone is taken as UTC.
    Raises ValueError."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
