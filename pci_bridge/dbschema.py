"""Creating tables, and adding columns a newer version introduced (nullable ones only), so an
existing SQLite file or PostgreSQL database keeps working after an upgrade."""

from __future__ import annotations

import time

from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError


def create_tables(db: Engine, metadata: MetaData) -> None:
    for attempt in range(10):  # several processes may create the same tables at once
        try:
            metadata.create_all(db)
            break
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 9:
                raise
            time.sleep(0.05 * (attempt + 1))
    existing = inspect(db)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=db.dialect)
            try:
                with db.begin() as conn:
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" '
                                      f"{kind}"))
            except (OperationalError, ProgrammingError):
                pass  # added by another process meanwhile
