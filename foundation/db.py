"""Opening a database (SQLite file or PostgreSQL by URL); foundation/migrations.py builds and
upgrades the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine


def open_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; a relative SQLite file's folder is made. Error messages never carry
    a statement's values (hide_parameters)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **options)
