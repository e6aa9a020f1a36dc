"""Opening a database (SQLite file or PostgreSQL by URL); foundation/migrations.py builds and
upgrades the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
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
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **options)
