"""The payment ledger in SQL (SQLite by default, PostgreSQL by URL): sessions, attempts,
outcomes, gateway references and confirmation codes. It never holds a card number, expiry
entry or security code: cards appear as brand, last four digits and expiry month/year."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from foundation.db import open_engine
from foundation.migrations import Schema, upgrade
from pci_bridge.codes import new_code
from pci_bridge.kinds import SessionState
from pci_bridge.records import AttemptRow, PaymentResult, SessionRow, result_text

metadata = MetaData()

sessions = Table(
    "pci_sessions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("state", String(16), nullable=False, index=True),
    Column("clid", String(32), index=True),
    Column("caller_clid", String(32)),
    Column("transfer_number", String(32)),
    Column("amount", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("description", String(200)),
    Column("save_card", Boolean, nullable=False, default=False),
    Column("card_token", String(64)),
    Column("max_cards", Integer),
    Column("language", String(16)),  # what the payment leg speaks (null: the bridge's own)
    Column("idempotency_key", String(255), unique=True),
    Column("request_hash", String(64)),
    Column("created_at", String(40), nullable=False, index=True),
    Column("expires_at", String(40), nullable=False),
    Column("ended_at", String(40)),
    Column("result", Text),
    # Set (in SQL, so it outlives Redis) while a stored-card charge is with the gateway: no
    # restart or sweep takes such a session for a lost leg.
    Column("charging_since", String(40)),
    # For finding and listing payments (GET /pci/v1/payments), set when a session ends: its
    # code (unique), outcome, the amount as a number of minor units, and the end as a time.
    Column("confirmation_code", String(8)),
    Column("outcome", String(24)),
    Column("amount_minor", BigInteger),
    Column("ended_ts", DateTime(timezone=True)),
    Index("ix_pci_sessions_confirmation_code", "confirmation_code", unique=True),
    Index("ix_pci_sessions_outcome", "outcome"),
    Index("ix_pci_sessions_ended_ts", "ended_ts"),
    Index("ix_pci_sessions_reference", "reference"),  # inquiries (?q=) by reference
    Index("ix_pci_sessions_caller_clid", "caller_clid"),  # and by the caller's number
)

# the columns above that SessionRow does not carry (the API answers them from its result)
LISTING_COLUMNS = ("confirmation_code", "outcome", "amount_minor", "ended_ts")

attempts = Table(
    "pci_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(40), nullable=False, index=True),
    Column("n", Integer, nullable=False),
    Column("brand", String(16)),
    Column("last4", String(4)),
    Column("exp_month", Integer),
    Column("exp_year", Integer),
    Column("outcome", String(24), nullable=False),
    Column("gateway_reference", String(64)),
    Column("decline_code", String(40)),
    Column("message", String(200)),
    Column("at", String(40), nullable=False),
)

# Every presentation of a CLID, in order (an autoincrement id, not a clock, decides "latest").
presentations = Table(
    "pci_clid_presentations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("clid", String(32), nullable=False, index=True),
    Column("session_id", String(40), nullable=False),
)

# The simulated gateway's own records (a real gateway keeps these on its side).
charges = Table(
    "pci_gateway_charges",
    metadata,
    Column("idempotency_key", String(255), primary_key=True),
    Column("result", Text, nullable=False),
)

tokens = Table(
    "pci_gateway_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("brand", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("behaviour", String(40), nullable=False),
)

# Ended sessions whose outcome the business has not acknowledged yet (pci_bridge/outbox.py);
# a row is written in the same transaction as the session's final state.
outbox = Table(
    "pci_outbox",
    metadata,
    Column("session_id", String(40), primary_key=True),
    Column("body", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(40), nullable=False, index=True),
    Column("delivered_at", String(40), index=True),
    Column("last_error", String(200)),
)

# The ledger's schema: pci_bridge/migrations builds these tables (version table
# alembic_version_pci).
SCHEMA = Schema("pci", "pci_bridge", metadata)


class Ledger:
    def __init__(self, db: Engine | str):
        self.db = open_engine(db) if isinstance(db, str) else db
        upgrade(self.db, SCHEMA)

    def close(self) -> None:
        self.db.dispose()

    # -- sessions -------------------------------------------------------------------------

    def insert_session(self, row: SessionRow) -> bool:
        """Insert; False when the idempotency key is already used."""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(sessions).values(**row.columns(), amount_minor=minor_units(row.amount))
                )
            return True
        except IntegrityError:
            return False

    def session(self, session_id: str) -> SessionRow | None:
        with self.db.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.id == session_id)).first()
        return _session(row) if row else None

    def by_idempotency_key(self, key: str) -> SessionRow | None:
        with self.db.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.idempotency_key == key)).first()
        return _session(row) if row else None

    def present(self, clid: str, session_id: str) -> None:
        with self.db.begin() as conn:
            conn.execute(insert(presentations).values(clid=clid, session_id=session_id))

    def latest_by_clid(self, clid: str) -> SessionRow | None:
        """The session most recently presented with `clid` (by insertion order)."""
        query = (
            select(presentations.c.session_id)
            .where(presentations.c.clid == clid)
            .order_by(presentations.c.id.desc())
            .limit(1)
        )
        with self.db.connect() as conn:
            session_id = conn.execute(query).scalar()
        return self.session(session_id) if session_id else None

    def completed_for_caller(self, caller_clid: str, since: str) -> list[SessionRow]:
        """Completed sessions created for `caller_clid` at `since` (ISO time) or later."""
        query = (
            select(sessions)
            .where(sessions.c.caller_clid == caller_clid)
            .where(sessions.c.created_at >= since)
            .where(sessions.c.state == SessionState.COMPLETED)
            .order_by(sessions.c.created_at)
        )
        with self.db.connect() as conn:
            return [_session(r) for r in conn.execute(query)]

    def in_states(self, states: Iterable[str]) -> list[SessionRow]:
        with self.db.connect() as conn:
            rows = conn.execute(select(sessions).where(sessions.c.state.in_(list(states))))
            return [_session(r) for r in rows]

    def end_session(
        self,
        session_id: str,
        only_if: Iterable[str],
        state: SessionState,
        result: PaymentResult | None,
        now: str,
        event: Callable[[SessionRow], str],
    ) -> bool:
        """Move a session to its final state (only from `only_if`) and write its outbox row,
        in one transaction: an ended session is never missing from the outbox. `event` makes
        the row's body from the ended session. A confirmation code another payment already
        has is drawn again."""
        for _ in range(5):
            try:
                with self.db.begin() as conn:
                    result = self._free_code(conn, result)
                    query = (
                        update(sessions)
                        .where(sessions.c.id == session_id)
                        .where(sessions.c.state.in_(list(only_if)))
                        .values(
                            state=state,
                            result=result_text(result),
                            ended_at=now,
                            confirmation_code=result.confirmation_code if result else None,
                            outcome=str(result.outcome) if result else None,
                            ended_ts=datetime.fromisoformat(now),
                        )
                    )
                    if conn.execute(query).rowcount != 1:
                        return False
                    row = conn.execute(select(sessions).where(sessions.c.id == session_id)).first()
                    assert row is not None
                    body = event(_session(row))
                    there = conn.execute(
                        select(outbox.c.session_id).where(outbox.c.session_id == session_id)
                    ).first()
                    if there is None:
                        conn.execute(
                            insert(outbox).values(
                                session_id=session_id,
                                body=body,
                                created_at=now,
                                attempts=0,
                                next_attempt_at=now,
                            )
                        )
                    else:  # cannot happen while sessions end once; if it does, send the latest
                        conn.execute(
                            update(outbox)
                            .where(outbox.c.session_id == session_id)
                            .values(body=body, attempts=0, next_attempt_at=now, delivered_at=None)
                        )
                return True
            except IntegrityError:  # another ending took the same code at the same moment
                if result is None or not result.confirmation_code:
                    raise
                result = replace(result, confirmation_code=new_code())
        raise RuntimeError(f"session {session_id}: no free confirmation code after 5 draws")

    def _free_code(self, conn: Any, result: PaymentResult | None) -> PaymentResult | None:
        """`result` with a confirmation code no other payment has (drawn again if needed)."""
        while (
            result is not None
            and result.confirmation_code
            and conn.execute(
                select(sessions.c.id).where(
                    sessions.c.confirmation_code == result.confirmation_code
                )
            ).first()
        ):
            result = replace(result, confirmation_code=new_code())
        return result

    # -- payments (ended sessions) -------------------------------------------------------

    def payments(
        self,
        *,
        q: str | None = None,
        states: Iterable[str] = (),
        outcomes: Iterable[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[tuple[SessionRow, datetime]]:
        """Ended sessions, newest end first: matching `q` (a confirmation code, a reference or
        the caller's number, exactly), in `states` or with `outcomes`, ended in [since,
        until), and after the (end, id) `before` (the previous page's last)."""
        query = select(sessions).where(sessions.c.ended_ts.is_not(None))
        if q:
            query = query.where(
                or_(
                    sessions.c.confirmation_code == q,
                    sessions.c.reference == q,
                    sessions.c.caller_clid == q,
                )
            )
        chosen_states, chosen_outcomes = list(states), list(outcomes)
        if chosen_states or chosen_outcomes:
            query = query.where(
                or_(sessions.c.state.in_(chosen_states), sessions.c.outcome.in_(chosen_outcomes))
            )
        if since is not None:
            query = query.where(sessions.c.ended_ts >= since)
        if until is not None:
            query = query.where(sessions.c.ended_ts < until)
        if before is not None:
            at, last_id = before
            query = query.where(
                or_(
                    sessions.c.ended_ts < at,
                    and_(sessions.c.ended_ts == at, sessions.c.id < last_id),
                )
            )
        query = query.order_by(sessions.c.ended_ts.desc(), sessions.c.id.desc()).limit(limit)
        with self.db.connect() as conn:
            return [(_session(r), _aware(r.ended_ts)) for r in conn.execute(query)]

    def by_confirmation_code(self, code: str) -> SessionRow | None:
        with self.db.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.confirmation_code == code)).first()
        return _session(row) if row else None

    # -- outbox ---------------------------------------------------------------------------

    def outbox_due(
        self, now: datetime, *, everything: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Unacknowledged rows whose next attempt is due (all of them with `everything`)."""
        query = select(outbox).where(outbox.c.delivered_at.is_(None))
        if not everything:
            query = query.where(outbox.c.next_attempt_at <= now.isoformat())
        query = query.order_by(outbox.c.created_at).limit(limit)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def outbox_rows(self, *, pending_only: bool = True) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.created_at)
        if pending_only:
            query = query.where(outbox.c.delivered_at.is_(None))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def claim_outbox(self, session_id: str, seen_next: str, until: datetime) -> bool:
        """Take a row for sending (False when another process took it first)."""
        query = (
            update(outbox)
            .where(outbox.c.session_id == session_id)
            .where(outbox.c.next_attempt_at == seen_next)
            .where(outbox.c.delivered_at.is_(None))
            .values(next_attempt_at=until.isoformat())
        )
        with self.db.begin() as conn:
            return conn.execute(query).rowcount == 1

    def outbox_delivered(self, session_id: str, at: datetime) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.session_id == session_id)
                .values(delivered_at=at.isoformat(), last_error=None)
            )

    def outbox_failed(self, session_id: str, attempts: int, retry_at: datetime, error: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.session_id == session_id)
                .values(
                    attempts=attempts, next_attempt_at=retry_at.isoformat(), last_error=error[:200]
                )
            )

    def update(
        self, session_id: str, *, only_if: Iterable[str] | None = None, **values: Any
    ) -> bool:
        """Update a session; with `only_if`, only while it is in one of those states."""
        query = update(sessions).where(sessions.c.id == session_id)
        if only_if is not None:
            query = query.where(sessions.c.state.in_(list(only_if)))
        with self.db.begin() as conn:
            return conn.execute(query.values(**values)).rowcount > 0

    # -- attempts -------------------------------------------------------------------------

    def add_attempt(self, row: AttemptRow) -> None:
        with self.db.begin() as conn:
            conn.execute(insert(attempts).values(**row.columns()))

    def attempts(self, session_id: str) -> list[AttemptRow]:
        query = select(attempts).where(attempts.c.session_id == session_id).order_by(attempts.c.n)
        with self.db.connect() as conn:
            return [AttemptRow.from_columns(dict(r._mapping)) for r in conn.execute(query)]


def _session(row: Any) -> SessionRow:
    values = {k: v for k, v in row._mapping.items() if k not in LISTING_COLUMNS}
    return SessionRow.from_columns(values)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


def minor_units(amount: str) -> int:
    """`42.50` as 4250 (the bridge's amounts have two decimal places)."""
    return int((Decimal(amount) * 100).to_integral_value())
