"""Payments for back-office screens and inquiries: ended sessions listed and found by
confirmation code (`GET /pci/v1/payments`, `GET /pci/v1/payments/{code}`), masked as anything
outside the gateway call may show them (brand and last four; never a card token)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pci_bridge.codes import is_code
from pci_bridge.errors import NotFound, ValidationError
from pci_bridge.kinds import FINAL_STATES, Outcome
from pci_bridge.ledger import Ledger
from pci_bridge.records import AttemptRow, SessionRow

SESSION_ID = re.compile(r"ps_[0-9a-f]{8,40}")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATUSES = {str(s) for s in FINAL_STATES} | {str(o) for o in Outcome}


def payment_view(row: SessionRow) -> dict[str, Any]:
    """One ended session as the payments API shows it."""
    result = row.result
    card = result.card if result else None
    gateway = result.gateway if result else None
    return {
        "session_id": row.id,
        "state": row.state,
        "outcome": result.outcome if result else None,
        "confirmation_code": result.confirmation_code if result else None,
        "amount": row.amount,
        "currency": row.currency,
        "reference": row.reference,
        "description": row.description,
        "caller_clid": row.caller_clid,
        "card": {"brand": card.brand, "last4": card.last4} if card else None,
        "attempts": result.attempts if result else 0,
        "gateway": (
            {
                "name": gateway.name,
                "reference": gateway.reference,
                "decline_code": gateway.decline_code,
                "message": gateway.message,
            }
            if gateway
            else None
        ),
        "created_at": row.created_at,
        "ended_at": row.ended_at,
    }


def attempt_view(row: AttemptRow) -> dict[str, Any]:
    return {
        "n": row.n,
        "outcome": row.outcome,
        "card": {"brand": row.brand, "last4": row.last4} if row.brand else None,
        "gateway_reference": row.gateway_reference,
        "decline_code": row.decline_code,
        "message": row.message,
        "at": row.at,
    }


class Payments:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def listing(self, args: Mapping[str, str]) -> dict[str, Any]:
        """`?q=&status=&from=&to=&limit=&cursor=` → {"payments": [...], "next_cursor"}."""
        q = (args.get("q") or "").strip()
        if len(q) > 64:
            raise ValidationError("q", "at most 64 characters")
        states, outcomes = _statuses(args.get("status") or "")
        since = _moment(args.get("from"), "from", end=False)
        until = _moment(args.get("to"), "to", end=True)
        limit = _limit(args.get("limit"))
        cursor = args.get("cursor")
        before = _cursor(cursor) if cursor else None
        found = self.ledger.payments(
            q=q.replace(" ", "") if is_code(q.replace(" ", "")) else q or None,
            states=states,
            outcomes=outcomes,
            since=since,
            until=until,
            before=before,
            limit=limit + 1,
        )
        page = found[:limit]
        more = len(found) > limit
        return {
            "payments": [payment_view(row) for row, _ in page],
            "next_cursor": _encode(page[-1][1], page[-1][0].id) if more and page else None,
        }

    def find(self, code: str) -> dict[str, Any]:
        """One payment by its confirmation code (or its session id), with each card tried."""
        cleaned = code.replace(" ", "")
        if is_code(cleaned):
            row = self.ledger.by_confirmation_code(cleaned)
        elif SESSION_ID.fullmatch(cleaned):
            row = self.ledger.session(cleaned)
            row = row if row is not None and row.ended else None
        else:
            raise ValidationError("confirmation_code", "8 digits, or a session id (ps_...)")
        if row is None:
            raise NotFound(f"no ended payment has the confirmation code or id {cleaned}")
        return {
            **payment_view(row),
            "history": [attempt_view(a) for a in self.ledger.attempts(row.id)],
        }


def _statuses(text: str) -> tuple[list[str], list[str]]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STATUSES]
    if unknown:
        raise ValidationError(
            "status", f"unknown {unknown[0]!r}: one or more of {', '.join(sorted(STATUSES))}"
        )
    states = [s for s in chosen if s in {str(f) for f in FINAL_STATES}]
    return states, [s for s in chosen if s not in states]


def _moment(text: str | None, field: str, *, end: bool) -> datetime | None:
    """A date (the whole day: `to` includes it) or an ISO time, as UTC."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, "a date (2026-11-30) or an ISO time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _limit(text: str | None) -> int:
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ValidationError("limit", f"a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _encode(at: datetime, session_id: str) -> str:
    raw = f"{at.astimezone(UTC).isoformat()}|{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(text: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at, _, session_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("cursor", "use the next_cursor of the previous page") from None
    if not SESSION_ID.fullmatch(session_id) or moment.tzinfo is None:
        raise ValidationError("cursor", "use the next_cursor of the previous page")
    return moment.astimezone(UTC), session_id
