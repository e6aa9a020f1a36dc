"""Schema migrations (foundation/migrations.py, Alembic): each package's revisions build exactly
the tables its code declares, on SQLite and PostgreSQL; a database made before migrations
existed is adopted without losing a row; workers opening a new database at once take turns;
the schemas share one database side by side."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, Text, inspect, text

from demo.billing.store import SCHEMA as BILLING
from foundation.db import open_engine
from foundation.migrations import Schema, SchemaTooNew, adopt, current, head, upgrade
from ivr.adapters.tables import SCHEMA as RECORDS
from ivr.collections.tables import SCHEMA as COLLECTIONS
from pci_bridge.ledger import SCHEMA as LEDGER
from pci_bridge.ledger import Ledger

SCHEMAS = {"ledger": LEDGER, "records": RECORDS, "billing": BILLING, "collections": COLLECTIONS}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    url: str = request.getfixturevalue("postgresql_url")
    return url


def differences(db: sqlalchemy.Engine, schema: Schema) -> list[object]:
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": schema.version_table})
        return list(compare_metadata(context, schema.metadata))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_revisions_build_the_tables_the_code_declares(db_url: str, name: str) -> None:
    schema = SCHEMAS[name]
    db = open_engine(db_url)
    try:
        upgrade(db, schema)
        assert differences(db, schema) == []
        with db.connect() as conn:
            assert current(conn, schema) == head(schema)
        upgrade(db, schema)  # at head already: nothing to do, nothing breaks
        with db.connect() as conn:
            rows = conn.execute(text(f"SELECT version_num FROM {schema.version_table}")).all()
        assert rows == [(head(schema),)]
    finally:
        db.dispose()


def test_the_schemas_share_one_database(db_url: str) -> None:
    db = open_engine(db_url)
    try:
        for schema in SCHEMAS.values():
            upgrade(db, schema)
        tables = set(inspect(db).get_table_names())
        assert {
            "alembic_version_pci",
            "alembic_version_ivr",
            "alembic_version_demo_billing",
            "alembic_version_collections",
        } <= tables
        for schema in SCHEMAS.values():
            assert set(schema.metadata.tables) <= tables
            with db.connect() as conn:
                assert current(conn, schema) == head(schema)
    finally:
        db.dispose()


def _pre_migration_ledger(db: sqlalchemy.Engine) -> None:
    """A ledger as an early release made it: no charging_since column, no outbox table, no
    version table."""
    tables = [t for t in LEDGER.metadata.sorted_tables if t.name != "pci_outbox"]
    LEDGER.metadata.create_all(db, tables=tables)
    with db.begin() as conn:
        conn.execute(text("ALTER TABLE pci_sessions DROP COLUMN charging_since"))
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pci_sessions (id, state, amount, currency, reference, save_card, "
                "created_at, expires_at) VALUES ('ps_old', 'completed', '10.00', 'GBP', "
                "'ACC-1/B-1', false, '2026-01-01T00:00:00+00:00', '2026-01-01T00:10:00+00:00')"
            )
        )


def test_a_database_from_before_migrations_is_adopted_without_losing_a_row(db_url: str) -> None:
    db = open_engine(db_url)
    _pre_migration_ledger(db)
    ledger = Ledger(db)
    try:
        columns = {c["name"] for c in inspect(db).get_columns("pci_sessions")}
        assert "charging_since" in columns
        assert "pci_outbox" in inspect(db).get_table_names()
        with db.connect() as conn:
            assert conn.execute(text("SELECT reference FROM pci_sessions")).all() == [
                ("ACC-1/B-1",)
            ]
            assert current(conn, LEDGER) == head(LEDGER)
    finally:
        ledger.close()


def test_a_table_missing_a_required_column_is_refused_by_name(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'odd.sqlite3'}")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE call_records (call_sid VARCHAR(64) PRIMARY KEY)"))
    with pytest.raises(RuntimeError, match="call_records lacks the required column plan_id"):
        upgrade(db, RECORDS)
    db.dispose()


def test_adopt_creates_what_is_missing_only(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    frozen = MetaData()
    Table("things", frozen, Column("id", Integer, primary_key=True), Column("note", Text))
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE things (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO things (id) VALUES (7)"))
        adopt(conn, frozen)
    with db.connect() as conn:
        assert conn.execute(text("SELECT id, note FROM things")).all() == [(7, None)]
    db.dispose()


STARTER = """
import sys
from pci_bridge.ledger import Ledger
from ivr.adapters.records_sql import SqlRecorder
from demo.billing.store import BillingStore
from ivr.collections.cases import Cases
url = sys.argv[1]
for make in (Ledger, SqlRecorder, BillingStore, Cases):
    make(url)
print("ok")
"""


def test_workers_opening_a_new_database_at_once_take_turns(db_url: str) -> None:
    """gunicorn starts its workers together: each opens the same new database."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, db_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    db = open_engine(db_url)
    try:
        for schema in SCHEMAS.values():
            with db.connect() as conn:
                rows = conn.execute(text(f"SELECT version_num FROM {schema.version_table}"))
                assert rows.all() == [(head(schema),)]
    finally:
        db.dispose()


def test_a_database_migrated_by_a_newer_release_is_refused_clearly(tmp_path: Path) -> None:
    db = open_engine(f"sqlite:///{tmp_path / 'newer.sqlite3'}")
    upgrade(db, RECORDS)
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version_ivr SET version_num = '0099'"))
    with pytest.raises(SchemaTooNew, match="at revision 0099, which this release does not know"):
        upgrade(db, RECORDS)
    db.dispose()


def test_an_in_memory_database_is_one_database_for_every_thread() -> None:
    import threading

    recorder_db = open_engine("sqlite://")
    upgrade(recorder_db, RECORDS)
    seen: list[object] = []

    def other_thread() -> None:
        with recorder_db.connect() as conn:
            seen.append(conn.execute(text("SELECT count(*) FROM call_records")).scalar())

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen == [0]
    recorder_db.dispose()
