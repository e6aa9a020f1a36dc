"""Call records in SQL through SQLAlchemy: a SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from foundation.db import open_engine
from foundation.migrations import upgrade
from ivr.adapters.tables import SCHEMA, call_records
from ivr.engine.records import CallRecord, PathStep


class SqlRecorder:
    """Writes each call record once (a repeat of the same call sid is ignored)."""

    def __init__(self, db: Engine | str):
        self.db = open_engine(db) if isinstance(db, str) else db
        upgrade(self.db, SCHEMA)

    def record(self, record: CallRecord) -> None:
        row = {
            "call_sid": record.call_sid,
            "plan_id": record.plan_id,
            "plan_version": record.plan_version,
            "clid": record.clid,
            "ddi": record.ddi,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "outcome": record.outcome,
            "end_status": record.end_status,
            "path": json.dumps([[s.applet, s.outcome, s.at, s.plan] for s in record.path]),
            "missing": json.dumps(list(record.missing)),
        }
        try:
            with self.db.begin() as conn:
                conn.execute(insert(call_records).values(**row))
        except IntegrityError:  # recorded again (a transfer's late action): the newer wins
            with self.db.begin() as conn:
                conn.execute(
                    update(call_records)
                    .where(call_records.c.call_sid == record.call_sid)
                    .values(**row)
                )

    def recent(self, limit: int = 20) -> list[CallRecord]:
        query = select(call_records).order_by(call_records.c.started_at.desc()).limit(limit)
        with self.db.connect() as conn:
            return [_from_row(r._mapping) for r in conn.execute(query)]

    def find(self, call_sid: str) -> CallRecord | None:
        query = select(call_records).where(call_records.c.call_sid == call_sid)
        with self.db.connect() as conn:
            row = conn.execute(query).first()
        return _from_row(row._mapping) if row else None

    def close(self) -> None:
        self.db.dispose()


def _from_row(row: Any) -> CallRecord:
    return CallRecord(
        call_sid=row["call_sid"],
        plan_id=row["plan_id"],
        plan_version=row["plan_version"],
        clid=row["clid"],
        ddi=row["ddi"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=row["outcome"],
        end_status=row["end_status"],
        path=tuple(PathStep(*step) for step in json.loads(row["path"])),
        missing=tuple(json.loads(row["missing"])),
    )
