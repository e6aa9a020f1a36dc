"""Collections cases in SQL: opened from the rows of a file taken in once by content, moved
from state to state by rule, every change (and every change of the account's flag) recorded
with its time and cause."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from foundation.clock import as_utc
from foundation.db import open_engine
from foundation.migrations import upgrade
from ivr.collections.rows import AccountRow
from ivr.collections.tables import (
    SCHEMA,
    collections_case_events,
    collections_cases,
    collections_contacts,
    collections_files,
    collections_sms_reports,
)
from ivr.errors import CollectionsError


class CaseState(StrEnum):
    OPEN = "open"
    CONTACTING = "contacting"
    PROMISED = "promised"
    PLAN_SCHEDULED = "plan_scheduled"
    PAID = "paid"
    RESOLVED = "resolved"
    CLOSED = "closed"


S = CaseState
# Where a case may go from each state (collections.md): a broken promise or a failed plan goes
# back to contacting; closed is an operator's decision or the contact policy's end.
MOVES: dict[CaseState, frozenset[CaseState]] = {
    S.OPEN: frozenset({S.CONTACTING, S.PROMISED, S.PLAN_SCHEDULED, S.PAID, S.CLOSED}),
    S.CONTACTING: frozenset({S.PROMISED, S.PLAN_SCHEDULED, S.PAID, S.CLOSED}),
    S.PROMISED: frozenset({S.CONTACTING, S.PLAN_SCHEDULED, S.PAID, S.CLOSED}),
    S.PLAN_SCHEDULED: frozenset({S.CONTACTING, S.RESOLVED, S.CLOSED}),
    S.PAID: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset(),
    S.CLOSED: frozenset(),
}
ENDED = frozenset({S.RESOLVED, S.CLOSED})
INBOUND = "inbound"  # the contact channel of a call the customer made


class UnknownCase(CollectionsError):
    pass


class NotAllowed(CollectionsError):
    """A change of state the rules do not allow."""


@dataclass(frozen=True)
class Case:
    id: int
    account: str
    state: CaseState
    amount_minor: int
    currency: str
    phone: str
    name: str
    email: str
    reference: str
    due_date: date | None
    timezone: str
    campaign: str
    flagged: bool
    source: str
    opened_at: datetime
    updated_at: datetime
    attempts: int = 0  # rounds of the contact policy made
    next_contact_at: datetime | None = None  # when the next round is due

    @property
    def amount_due(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-2)

    @property
    def is_open(self) -> bool:
        return self.state not in ENDED

    def as_dict(self) -> dict[str, Any]:
        """Plain values (`ivr collections cases --json`): amounts as decimal text."""
        return {
            "id": self.id,
            "account": self.account,
            "state": self.state.value,
            "amount_due": f"{self.amount_due:.2f}",
            "currency": self.currency,
            "phone": self.phone,
            "name": self.name,
            "email": self.email,
            "reference": self.reference,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "timezone": self.timezone,
            "campaign": self.campaign,
            "flagged": self.flagged,
            "source": self.source,
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "attempts": self.attempts,
            "next_contact_at": self.next_contact_at.isoformat() if self.next_contact_at else None,
            "payments": [],  # scheduled and taken payments: the plans fill them in
        }


@dataclass(frozen=True)
class CaseEvent:
    at: datetime
    state_from: str
    state_to: str
    cause: str


@dataclass(frozen=True)
class Contact:
    """One attempt to reach the customer through one channel, and its result."""

    id: int
    at: datetime
    attempt: int
    channel: str
    result: str  # sent, delivered, failed, answered, no_answer, busy, voicemail
    detail: str


@dataclass(frozen=True)
class TakenFile:
    """What taking a file's rows did: the cases opened, the accounts that had an open case
    already, or (`first_seen`) that the same content was taken before and nothing changed."""

    opened: list[Case]
    already_open: list[str]
    first_seen: datetime | None = None


class Cases:
    """The collections tables of one database (migrated when opened)."""

    def __init__(self, db: Engine | str, clock: Callable[[], datetime] | None = None):
        self.db = open_engine(db) if isinstance(db, str) else db
        given = clock or (lambda: datetime.now(UTC))
        self.clock = lambda: given().astimezone(UTC)  # stored as UTC, compared as text in SQLite
        upgrade(self.db, SCHEMA)

    def close(self) -> None:
        self.db.dispose()

    # -- taking a file in ---------------------------------------------------------------------

    def take_file(
        self, sha256: str, name: str, rows: Iterable[AccountRow], refused: int, campaign: str
    ) -> TakenFile:
        """Open a case for each row whose account has none open, and remember the file by its
        content, in one transaction: the same content again changes nothing."""
        rows = list(rows)
        now = self.clock()
        for _attempt in range(3):  # another file opening the same account at once: again
            try:
                return self._take(sha256, name, rows, refused, campaign, now)
            except IntegrityError:
                seen = self._file_seen(sha256)
                if seen is not None:
                    return TakenFile([], [], first_seen=seen)
        raise CollectionsError(f"{name}: could not open its cases (accounts kept changing)")

    def _take(
        self,
        sha256: str,
        name: str,
        rows: list[AccountRow],
        refused: int,
        campaign: str,
        now: datetime,
    ) -> TakenFile:
        seen = self._file_seen(sha256)
        if seen is not None:
            return TakenFile([], [], first_seen=seen)
        c = collections_cases.c
        opened_ids: list[int] = []
        already: list[str] = []
        with self.db.begin() as conn:
            open_accounts = set(
                conn.execute(
                    select(c.account).where(
                        c.account.in_([r.account for r in rows]),
                        c.state.not_in([s.value for s in ENDED]),
                    )
                ).scalars()
            ) if rows else set()  # fmt: skip
            for row in rows:
                if row.account in open_accounts:
                    already.append(row.account)
                    continue
                inserted = conn.execute(
                    insert(collections_cases).values(
                        account=row.account,
                        state=S.OPEN.value,
                        amount_minor=row.amount_minor,
                        currency=row.currency,
                        phone=row.phone,
                        name=row.name,
                        email=row.email,
                        reference=row.reference,
                        due_date=row.due_date,
                        timezone=row.timezone,
                        campaign=campaign,
                        flagged=False,
                        source=f"{name}:{row.line}",
                        opened_at=now,
                        updated_at=now,
                        next_contact_at=now,  # the contact policy starts at once
                    )
                ).inserted_primary_key
                assert inserted is not None
                case_id = int(inserted[0])
                conn.execute(
                    insert(collections_case_events).values(
                        case_id=case_id, at=now, state_from="", state_to=S.OPEN.value,
                        cause=f"opened from {name}:{row.line}",
                    )
                )  # fmt: skip
                opened_ids.append(case_id)
            conn.execute(
                insert(collections_files).values(
                    sha256=sha256, name=name, received_at=now, rows_read=len(rows) + refused,
                    opened=len(opened_ids), already_open=len(already), refused=refused,
                )
            )  # fmt: skip
        return TakenFile([self.get(i) for i in opened_ids], already)

    def _file_seen(self, sha256: str) -> datetime | None:
        f = collections_files.c
        with self.db.connect() as conn:
            seen = conn.execute(select(f.received_at).where(f.sha256 == sha256)).scalar()
        return as_utc(seen) if seen is not None else None

    # -- reading ------------------------------------------------------------------------------

    def get(self, case_id: int) -> Case:
        with self.db.connect() as conn:
            row = conn.execute(
                select(collections_cases).where(collections_cases.c.id == case_id)
            ).first()
        if row is None:
            raise UnknownCase(f"no collections case {case_id}")
        return _case(row._mapping)

    def for_account(self, account: str) -> Case | None:
        """The account's open case, else its newest."""
        c = collections_cases.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_cases).where(c.account == account).order_by(c.id.desc())
            ).all()
        cases = [_case(r._mapping) for r in rows]
        return next((k for k in cases if k.is_open), cases[0] if cases else None)

    def cases(self, state: CaseState | None = None, limit: int = 10_000) -> list[Case]:
        """Cases in the order they were opened (with `state`, only those in it)."""
        c = collections_cases.c
        query = select(collections_cases).order_by(c.id).limit(limit)
        if state is not None:
            query = query.where(c.state == state.value)
        with self.db.connect() as conn:
            return [_case(r._mapping) for r in conn.execute(query)]

    def events(self, case_id: int) -> list[CaseEvent]:
        e = collections_case_events.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(e.at, e.state_from, e.state_to, e.cause)
                .where(e.case_id == case_id)
                .order_by(e.id)
            ).all()
        return [CaseEvent(as_utc(r.at), r.state_from, r.state_to, r.cause) for r in rows]

    def unflagged(self, before: datetime) -> list[Case]:
        """Open cases whose account flag the billing service has not confirmed yet, last
        changed (or tried) before `before`."""
        c = collections_cases.c
        return self._flag_waiting(
            c.flagged.is_(False), c.state.not_in([s.value for s in ENDED]), before=before
        )

    def still_flagged(self, before: datetime) -> list[Case]:
        """Resolved cases whose account flag the billing service has not removed yet (it was
        down), last changed (or tried) before `before`."""
        c = collections_cases.c
        return self._flag_waiting(c.flagged.is_(True), c.state == S.RESOLVED.value, before=before)

    def _flag_waiting(self, *where: Any, before: datetime) -> list[Case]:
        c = collections_cases.c
        query = select(collections_cases).where(*where, c.updated_at < before).order_by(c.id)
        with self.db.connect() as conn:
            return [_case(r._mapping) for r in conn.execute(query).all()]

    def due_for_contact(self, now: datetime, limit: int = 500) -> list[Case]:
        """Cases being contacted (open or contacting) whose next round is due at `now`."""
        now = now.astimezone(UTC)
        c = collections_cases.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(collections_cases)
                .where(
                    c.state.in_([S.OPEN.value, S.CONTACTING.value]),
                    c.next_contact_at <= now,
                )
                .order_by(c.next_contact_at, c.id)
                .limit(limit)
            ).all()
        return [_case(r._mapping) for r in rows]

    def contacts(self, case_id: int) -> list[Contact]:
        k = collections_contacts.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(k.id, k.at, k.attempt, k.channel, k.result, k.detail)
                .where(k.case_id == case_id)
                .order_by(k.id)
            ).all()
        return [Contact(r.id, as_utc(r.at), r.attempt, r.channel, r.result, r.detail) for r in rows]

    def placed_calls(self, limit: int = 500) -> list[tuple[int, int, str, datetime]]:
        """Calls placed whose result is not known yet: (contact id, case id, CallSid, when)."""
        k = collections_contacts.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(k.id, k.case_id, k.detail, k.at)
                .where(k.channel.in_(["call", INBOUND]), k.result == "placed")
                .order_by(k.id)
                .limit(limit)
            ).all()
        return [(r.id, r.case_id, r.detail, as_utc(r.at)) for r in rows]

    def record_inbound(self, case: Case, call_sid: str) -> None:
        """The customer rang in (and passed the plan's identity check): the call is kept on
        the case, to be settled from its record as a placed call is; once per call."""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(collections_contacts).values(
                        case_id=case.id, at=self.clock(), attempt=case.attempts,
                        channel=INBOUND, result="placed", detail=call_sid,
                    )
                )  # fmt: skip
        except IntegrityError:  # the same call again (a webhook retried)
            pass

    def message_status(self, sid: str, result: str, detail: str) -> bool:
        """Twilio's delivery report of text `sid` (`delivered` or `failed`): kept, and the
        contact that sent it says so (False: its contact is not recorded yet, or was told
        already; `apply_message_reports` applies it once it is)."""
        r = collections_sms_reports.c
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(collections_sms_reports).values(
                        sid=sid, result=result, detail=detail[:500], at=self.clock()
                    )
                )
        except IntegrityError:  # the same report again
            with self.db.connect() as conn:
                known = conn.execute(select(r.result).where(r.sid == sid)).scalar_one()
            if known != result:
                return False
        return self._apply_report(sid, result, detail)

    def apply_message_reports(self, limit: int = 500) -> int:
        """Reports that came before their text's contact was recorded: applied now."""
        k, r = collections_contacts.c, collections_sms_reports.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(r.sid, r.result, r.detail)
                .join(collections_contacts, k.detail == r.sid)
                .where(k.channel == "sms", k.result == "sent")
                .limit(limit)
            ).all()
        return sum(1 for row in rows if self._apply_report(row.sid, row.result, row.detail))

    def _apply_report(self, sid: str, result: str, detail: str) -> bool:
        k = collections_contacts.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_contacts)
                    .where(k.channel == "sms", k.detail == sid, k.result == "sent")
                    .values(result=result, detail=detail[:500])
                ).rowcount
            )

    def settle_contact(self, contact_id: int, result: str, detail: str) -> bool:
        """A placed call's result, once (False: another worker settled it first)."""
        k = collections_contacts.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_contacts)
                    .where(k.id == contact_id, k.result == "placed")
                    .values(result=result, detail=detail[:500])
                ).rowcount
            )

    # -- changes ------------------------------------------------------------------------------

    def claim_round(self, case: Case, next_at: datetime | None, attempts: int) -> bool:
        """Take the case's due round for this process: its next round moves to `next_at` and
        its count to `attempts`, only if nobody else has moved them since `case` was read (so
        of several workers, one contacts the customer)."""
        c = collections_cases.c
        with self.db.begin() as conn:
            return bool(
                conn.execute(
                    update(collections_cases)
                    .where(
                        c.id == case.id,
                        c.attempts == case.attempts,
                        c.next_contact_at == case.next_contact_at,
                        c.state.in_([S.OPEN.value, S.CONTACTING.value]),
                    )
                    .values(
                        next_contact_at=next_at.astimezone(UTC) if next_at else None,
                        attempts=attempts,
                    )
                ).rowcount
            )

    def restart_contact(self, case_id: int) -> None:
        """The contact policy starts again from its first round, now (a plan that failed)."""
        c = collections_cases.c
        with self.db.begin() as conn:
            conn.execute(
                update(collections_cases)
                .where(c.id == case_id)
                .values(attempts=0, next_contact_at=self.clock())
            )

    def record_contact(
        self, case_id: int, attempt: int, channel: str, result: str, detail: str
    ) -> None:
        with self.db.begin() as conn:
            conn.execute(
                insert(collections_contacts).values(
                    case_id=case_id, at=self.clock(), attempt=attempt, channel=channel,
                    result=result, detail=detail[:500],
                )
            )  # fmt: skip

    def move(self, case_id: int, to: CaseState, cause: str) -> Case:
        """Move a case to `to` (NotAllowed when the rules forbid it), recording the cause."""
        self._change(case_id, cause, to=to)
        return self.get(case_id)

    def set_flagged(self, case_id: int, flagged: bool, cause: str) -> Case:
        """Record that the billing service holds (or no longer holds) the account's flag."""
        self._change(case_id, cause, flagged=flagged)
        return self.get(case_id)

    def note(self, case_id: int, cause: str) -> None:
        """Record something that happened to a case without changing its state (a flag that
        could not be set, say)."""
        self._change(case_id, cause)

    def _change(self, case_id: int, cause: str, to: CaseState | None = None, **values: Any) -> None:
        """Change a case (its state to `to`, when given, by the rules; `values`) and record
        the change with its cause, in one transaction."""
        now = self.clock()
        c = collections_cases.c
        with self.db.begin() as conn:
            state = conn.execute(select(c.state).where(c.id == case_id)).scalar()
            if state is None:
                raise UnknownCase(f"no collections case {case_id}")
            current = CaseState(state)
            if to is not None and to not in MOVES[current]:
                allowed = ", ".join(sorted(m.value for m in MOVES[current])) or "nothing"
                raise NotAllowed(
                    f"case {case_id} is {current.value}: it can go to {allowed}, not {to.value}"
                )
            target = to or current
            where = [c.id == case_id]
            if to is not None:  # a move: only from the state it was read in
                where.append(c.state == current.value)
                values["state"] = to.value
            changed = conn.execute(
                update(collections_cases).where(*where).values(updated_at=now, **values)
            ).rowcount
            if not changed:
                raise NotAllowed(f"case {case_id} changed meanwhile; try again")
            conn.execute(
                insert(collections_case_events).values(
                    case_id=case_id, at=now, state_from=current.value, state_to=target.value,
                    cause=cause,
                )
            )  # fmt: skip


def _case(row: Any) -> Case:
    return Case(
        id=int(row["id"]),
        account=row["account"],
        state=CaseState(row["state"]),
        amount_minor=int(row["amount_minor"]),
        currency=row["currency"],
        phone=row["phone"],
        name=row["name"],
        email=row["email"],
        reference=row["reference"],
        due_date=row["due_date"],
        timezone=row["timezone"],
        campaign=row["campaign"],
        flagged=bool(row["flagged"]),
        source=row["source"],
        opened_at=as_utc(row["opened_at"]),
        updated_at=as_utc(row["updated_at"]),
        attempts=int(row["attempts"]),
        next_contact_at=as_utc(row["next_contact_at"]) if row["next_contact_at"] else None,
    )
