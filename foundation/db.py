"""Opening a database, creating tables, and adding columns a newer version introduced
(nullable ones only), so an existing SQLite file or PostgreSQL database keeps working after an
upgrade."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError


def open_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; a relative SQLite file's folder is made. Error messages never carry
    a statement's values (hide_parameters)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **options)


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
