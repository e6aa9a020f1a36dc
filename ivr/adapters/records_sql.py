"""Call records in SQL through SQLAlchemy: a SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from foundation.clock import parse_utc
from foundation.db import open_engine
from foundation.migrations import upgrade
from foundation.outage import Outage
from ivr.adapters.tables import SCHEMA, call_records
from ivr.engine.records import CallRecord
from ivr.errors import RecordsUnavailable

log = logging.getLogger("ivr.records")


class SqlRecorder:
    """Writes each call record (a repeat of the same call sid replaces it). While the database
    is down, records wait in memory (up to PENDING_MAX) and are written when it answers again;
    the outage is logged once when it starts and once when it ends, with the count."""

    PENDING_MAX = 10_000

    def __init__(self, db: Engine | str):
        self.db = open_engine(db) if isinstance(db, str) else db
        upgrade(self.db, SCHEMA)
        self.pending: deque[CallRecord] = deque()
        self._pending_lock = threading.Lock()
        self.outage = Outage(
            "the call records database",
            log,
            "call records kept for later",
            "call records wait in memory and are written when it answers",
        )

    def record(self, record: CallRecord) -> None:
        """Write `record` (and any waiting ones); never raises for a database outage."""
        try:
            self._flush()
            self._write(record)
        except SQLAlchemyError as exc:
            self.outage.failed(exc)
            with self._pending_lock:
                if len(self.pending) >= self.PENDING_MAX:
                    lost = self.pending.popleft()
                    log.error(
                        "[%s] call record dropped: %d records are waiting for the database",
                        lost.call_sid,
                        self.PENDING_MAX,
                    )
                self.pending.append(record)
            return
        self.outage.ok()

    def retry(self) -> None:
        """Write what is waiting, if anything (the background round calls this)."""
        if not self.pending:
            return
        try:
            self._flush()
        except SQLAlchemyError:
            return  # still down: the outage was said already
        self.outage.ok()

    def _flush(self) -> None:
        while True:
            with self._pending_lock:
                if not self.pending:
                    return
                waiting = self.pending[0]
            self._write(waiting)  # raises while the database is still down: it stays queued
            with self._pending_lock:
                if self.pending and self.pending[0] is waiting:
                    self.pending.popleft()

    def write_many(
        self, records: list[CallRecord], *, before_commit: Callable[[], None] | None = None
    ) -> None:
        """Write `records` in one transaction; a record of a call already written replaces
        it unless it ended earlier (the last of the same call in `records` wins).
        `before_commit` may raise to roll the transaction back. Raises SQLAlchemyError."""
        rows = {r.call_sid: _row(r) for r in records}  # the last of a call wins
        if not rows:
            return
        dialect = self.db.dialect.name
        module = sqlite if dialect == "sqlite" else postgresql
        statement = module.insert(call_records)
        changing = {
            c.name: statement.excluded[c.name] for c in call_records.c if c.name != "call_sid"
        }
        with self.db.begin() as conn:
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["call_sid"],
                    set_=changing,
                    # an older record of the call (queued before a direct write made while
                    # Redis was down, say) never replaces a newer one
                    where=call_records.c.ended_at <= statement.excluded.ended_at,
                ),
                list(rows.values()),
            )
            if before_commit is not None:
                before_commit()

    def _write(self, record: CallRecord) -> None:
        self.write_many([record])  # recorded again (a transfer's late action): the newer wins

    def recent(
        self,
        limit: int = 20,
        *,
        plan: str | None = None,
        outcome: str | None = None,
        caller: str | None = None,
        since: str | None = None,
        number: str | None = None,
        until: str | None = None,
        test: bool | None = None,
    ) -> list[CallRecord]:
        """The newest records first, filtered by plan, outcome, caller, number dialled,
        start time (`since` inclusive, `until` exclusive; ISO text) and test calls (None:
        live and test calls alike)."""
        query = select(call_records)
        if test is not None:
            query = query.where(call_records.c.test.is_(test))
        if plan:
            query = query.where(call_records.c.plan_id == plan)
        if outcome:
            query = query.where(call_records.c.outcome == outcome)
        if caller is not None:
            query = query.where(call_records.c.clid == caller)
        if number:
            query = query.where(call_records.c.ddi == number)
        if since:
            query = query.where(call_records.c.started_at >= since)
        if until:
            query = query.where(call_records.c.started_at < until)
        query = query.order_by(call_records.c.started_at.desc()).limit(limit)
        with self.db.connect() as conn:
            return [_from_row(r._mapping) for r in conn.execute(query)]

    def figures(
        self, since: str, until: str, *, test: bool = False, left_at_most: int = 20_000
    ) -> CallFigures:
        """The dashboard's figures for the live calls (or with `test`, the test calls) started
        in [since, until) (ISO dates or times), counted in SQL: per day, outcome and plan, the
        calls that reached an agent, lengths, and the applet each abandoned call was at (the
        newest `left_at_most` of them); and how many calls of the other kind there were."""
        c = call_records.c
        window = (c.started_at >= since, c.started_at < until, c.test.is_(test))
        day = func.substr(c.started_at, 1, 10)
        with self.db.connect() as conn:
            per_day: dict[str, int] = {
                str(d): int(n)
                for d, n in conn.execute(select(day, func.count()).where(*window).group_by(day))
            }
            outcomes = conn.execute(
                select(c.outcome, func.count()).where(*window).group_by(c.outcome)
            ).all()
            plans = conn.execute(
                select(c.plan_id, func.count()).where(*window).group_by(c.plan_id)
            ).all()
            agent = conn.execute(
                select(c.reached_agent, func.count()).where(*window).group_by(c.reached_agent)
            ).all()
            lengths = (
                conn.execute(
                    select(c.seconds).where(*window, c.seconds.is_not(None)).order_by(c.seconds)
                )
                .scalars()
                .all()
            )
            others = conn.execute(
                select(func.count()).where(
                    c.started_at >= since, c.started_at < until, c.test.is_(not test)
                )
            ).scalar_one()
            paths = conn.execute(
                select(c.plan_id, c.path)
                .where(*window, c.outcome == "Abandoned")
                .order_by(c.started_at.desc())
                .limit(left_at_most)
            ).all()
        left: Counter[str] = Counter()
        for plan_id, path in paths:
            steps = json.loads(path or "[]")
            if steps:
                left[f"{plan_id} / {steps[-1][0]}"] += 1
        by_agent = {value: n for value, n in agent}
        return CallFigures(
            calls=sum(per_day.values()),
            per_day=per_day,
            outcomes=sorted(((str(o), int(n)) for o, n in outcomes), key=lambda x: -x[1]),
            plans=sorted(((str(p), int(n)) for p, n in plans), key=lambda x: -x[1]),
            reached_agent=int(by_agent.get(True, 0)),
            judged=int(by_agent.get(True, 0)) + int(by_agent.get(False, 0)),
            seconds_median=int(lengths[len(lengths) // 2]) if lengths else 0,
            left_at=left.most_common(15),
            test=test,
            others=int(others),
        )

    def find(self, call_sid: str) -> CallRecord | None:
        """The record of `call_sid` (one waiting for the database counts); raises
        RecordsUnavailable when the database does not answer."""
        with self._pending_lock:
            for waiting in self.pending:
                if waiting.call_sid == call_sid:
                    return waiting
        query = select(call_records).where(call_records.c.call_sid == call_sid)
        try:
            with self.db.connect() as conn:
                row = conn.execute(query).first()
        except SQLAlchemyError as exc:
            self.outage.failed(exc)
            raise RecordsUnavailable(f"call records unavailable: {type(exc).__name__}") from None
        return _from_row(row._mapping) if row else None

    def ping(self) -> None:
        """Raise OperationalError (or another connection error) when the database does not
        answer a trivial query."""
        try:
            with self.db.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            raise OperationalError("SELECT 1", None, exc) from exc

    def close(self) -> None:
        self.db.dispose()


@dataclass(frozen=True)
class CallFigures:
    """Calls over a period, counted in SQL (the console's dashboard)."""

    calls: int
    per_day: dict[str, int]  # "2026-11-30" → calls started that day (UTC)
    outcomes: list[tuple[str, int]]
    plans: list[tuple[str, int]]
    reached_agent: int
    judged: int  # calls whose record says whether they reached an agent
    seconds_median: int
    left_at: list[tuple[str, int]]  # "plan / applet" where abandoned calls were
    test: bool = False  # these are the test calls (else the live ones)
    others: int = 0  # calls of the other kind in the period


def _row(record: CallRecord) -> dict[str, Any]:
    row = record.as_dict()
    for name in ("path", "missing", "transcript"):
        row[name] = json.dumps(row[name], separators=(",", ":"))
    row["started_ts"], row["seconds"] = _times(record)
    return row


def _times(record: CallRecord) -> tuple[datetime | None, int | None]:
    """The start as a time, and the length in whole seconds (None where unreadable)."""
    try:
        started = parse_utc(record.started_at)
    except ValueError:
        return None, None
    try:
        ended = parse_utc(record.ended_at)
    except ValueError:
        return started, None
    return started, max(0, round((ended - started).total_seconds()))


def _from_row(row: Any) -> CallRecord:
    raw = {k: v for k, v in dict(row).items() if k not in ("started_ts", "seconds")}
    for name in ("path", "missing", "transcript"):
        raw[name] = json.loads(raw[name] or "[]")
    return CallRecord.from_dict(raw)
