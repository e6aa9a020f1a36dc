"""Opening a database (SQLite file or PostgreSQL by URL); foundation/migrations.py builds and
upgrades the tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

MEMORY_URLS = ("sqlite://", "sqlite:///:memory:")


def open_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; a relative SQLite file's folder is made. An in-memory SQLite
    database is one database for every thread of the process (not one per thread). Error
    messages never carry a statement's values (hide_parameters)."""
    if url in MEMORY_URLS:
        return create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_wal)
    return engine


def _sqlite_wal(connection: Any, _record: Any) -> None:
    """A SQLite file shared by processes: write-ahead logging (readers never wait for the
    writer, a commit is one append; still synchronous in full: a payment ledger may be a
    SQLite file), and a writer waits up to 5 s for another's lock rather than failing."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=5000")  # first: the mode change may wait for it
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass  # another process holds the file: it switches it (WAL stays with the file)
    finally:
        cursor.close()
