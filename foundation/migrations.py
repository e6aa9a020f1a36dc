"""Schema migrations with Alembic, applied when a database is opened.

Each schema — the engine's call records, the PCI bridge's ledger, the demo billing store —
keeps its migrations in its own package (`<package>/migrations/versions/`) and its own version
table (`alembic_version_<name>`), so the three can share one database. Opening a database
upgrades it to the newest revision; a database already there costs one query. Several
processes opening the same database at once (gunicorn workers starting) take turns: a
PostgreSQL advisory lock, or a lock file beside a SQLite file.

A schema change is a new revision file in that package's `migrations/versions/` (see
docs/architecture.md); `tests/test_migrations.py` checks that the revisions build exactly the
tables the code declares.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text


@dataclass(frozen=True)
class Schema:
    """One package's tables and the migrations that build them."""

    name: str  # short, for the version table: alembic_version_<name>
    package: str  # the migrations are in <package>/migrations
    metadata: MetaData  # the tables as the code uses them

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", f"{self.package}:migrations")
        config.attributes["schema"] = self
        return config


log = logging.getLogger("foundation.migrations")
# Alembic says at INFO what each revision does; one line of ours says what happened.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

_scripts: dict[str, ScriptDirectory] = {}
_scripts_lock = threading.Lock()


def _script(schema: Schema) -> ScriptDirectory:
    with _scripts_lock:
        script = _scripts.get(schema.package)
        if script is None:
            script = _scripts[schema.package] = ScriptDirectory.from_config(schema.config())
        return script


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer release than this one."""


def head(schema: Schema) -> str:
    """The newest revision of `schema`."""
    found = _script(schema).get_current_head()
    assert found is not None, f"{schema.package}/migrations has no revisions"
    return found


def current(conn: Connection, schema: Schema) -> str | None:
    """The revision `conn`'s database is at (None: never migrated)."""
    context = MigrationContext.configure(conn, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def upgrade(db: Engine, schema: Schema) -> None:
    """Bring `db` to the newest revision of `schema` (nothing to do: one query)."""
    target = head(schema)
    with db.connect() as conn:
        at = current(conn, schema)
    if at == target:
        return
    if at is not None and at not in {s.revision for s in _script(schema).walk_revisions()}:
        raise SchemaTooNew(
            f"the {schema.name} tables are at revision {at}, which this release does not "
            f"know (it knows up to {target}): a newer release migrated this database; run "
            "that release, or restore the database from before it"
        )
    with _exclusive(db), db.begin() as conn:
        if db.dialect.name == "postgresql":
            key = zlib.crc32(schema.version_table.encode())
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        if current(conn, schema) == target:  # another process did it meanwhile
            return
        config = schema.config()
        config.attributes["connection"] = conn
        before = current(conn, schema)
        command.upgrade(config, "head")
        log.info(
            "database schema %s upgraded from %s to %s", schema.name, before or "nothing", target
        )


@contextmanager
def _exclusive(db: Engine) -> Iterator[None]:
    """Across processes, for a SQLite file: a lock file beside it (PostgreSQL locks in SQL)."""
    database = db.url.database
    if db.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(Path(database).with_name(Path(database).name + ".migrate-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_env() -> None:
    """The body of every package's `migrations/env.py`: run the revisions on the connection
    `upgrade` passes (online only: there is no SQL-script mode)."""
    from alembic import context

    config = context.config
    conn = config.attributes.get("connection")
    schema: Schema | None = config.attributes.get("schema")
    if conn is None or schema is None:
        raise RuntimeError(
            "run migrations through foundation.migrations.upgrade(), which "
            "passes the connection and the schema"
        )
    context.configure(
        connection=conn,
        target_metadata=schema.metadata,
        version_table=schema.version_table,
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def adopt(conn: Connection, metadata: MetaData) -> None:
    """For a baseline revision: create the tables of `metadata` that are missing, and add the
    nullable columns that a database made before migrations existed lacks (such databases
    were created table by table, and columns were added as versions introduced them)."""
    metadata.create_all(conn, checkfirst=True)
    existing = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in existing.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"table {table.name} lacks the required column "
                    f"{column.name}: this database was not made by this "
                    "project, or is older than any release"
                )
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
