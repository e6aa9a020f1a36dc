"""Where the demo billing service keeps its data: SQL (SQLite by default, PostgreSQL by URL), so
every worker of a fleet sees the same accounts, payments, promises and plans.

Accounts are JSON documents with a version: a change reads the document, changes it and
writes it back only if nobody changed it meanwhile (optimistic locking, the same on SQLite and
PostgreSQL), retrying otherwise. Payments, promises and plans are records keyed by a unique
key (a payment by its confirmation code), so posting the same payment twice, from two
processes at once even, keeps one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from foundation.db import MEMORY_URLS, open_engine
from foundation.migrations import Schema, upgrade

metadata = MetaData()

accounts = Table(
    "demo_billing_accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),
)

records = Table(
    "demo_billing_records",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # payment | promise | plan
    Column("key", String(64), nullable=False),
    Column("account", String(40), nullable=False, index=True),
    Column("doc", Text, nullable=False),
    UniqueConstraint("kind", "key"),
)

# demo/billing/migrations builds these tables (version table alembic_version_demo_billing).
SCHEMA = Schema("demo_billing", "demo.billing", metadata)

MEMORY = "sqlite://"  # one process's own database (simulated calls, tests)


class Conflict(Exception):
    """The account changed while it was being changed: try again."""


def open_db(url: str) -> Engine:
    if url in MEMORY_URLS:
        return open_engine(url)
    return open_engine(url, connect_args={"timeout": 15} if url.startswith("sqlite") else {})


class BillingStore:
    def __init__(self, url: str = MEMORY):
        self.db = open_db(url)
        upgrade(self.db, SCHEMA)  # several workers may start at once: they take turns

    def close(self) -> None:
        self.db.dispose()

    def seed(self, docs: Iterable[dict[str, Any]]) -> None:
        """Insert the accounts that are not there yet (a restart keeps what changed)."""
        for doc in docs:
            try:
                with self.db.begin() as conn:
                    conn.execute(
                        insert(accounts).values(id=doc["id"], version=1, doc=json.dumps(doc))
                    )
            except IntegrityError:
                pass

    def accounts(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(select(accounts.c.doc).order_by(accounts.c.id))
            return [json.loads(r.doc) for r in rows]

    def change(
        self,
        account_id: str,
        fn: Callable[[dict[str, Any]], Any],
        record: Callable[[Any], tuple[str, str, dict[str, Any]] | None] = lambda _: None,
        tries: int = 20,
    ) -> Any:
        """Apply `fn` to the account's document and save it, with the record `record` makes
        of `fn`'s result, in one transaction; retried when another process won the race."""
        for _ in range(tries):
            with self.db.connect() as conn:
                row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
            if row is None:
                raise KeyError(account_id)
            doc = json.loads(row.doc)
            result = fn(doc)
            made = record(result)
            try:
                with self.db.begin() as conn:
                    saved = conn.execute(
                        update(accounts)
                        .where(accounts.c.id == account_id)
                        .where(accounts.c.version == row.version)
                        .values(version=row.version + 1, doc=json.dumps(doc))
                    )
                    if saved.rowcount != 1:
                        raise Conflict(account_id)
                    if made is not None:
                        kind, key, value = made
                        conn.execute(
                            insert(records).values(
                                kind=kind, key=key, account=account_id, doc=json.dumps(value)
                            )
                        )
                return result
            except Conflict:
                continue
        raise Conflict(account_id)

    def add(self, kind: str, key: str, account_id: str, doc: dict[str, Any]) -> bool:
        """Keep a record; False when one with that key is there already."""
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(records).values(
                        kind=kind, key=key, account=account_id, doc=json.dumps(doc)
                    )
                )
            return True
        except IntegrityError:
            return False

    def find(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            row = conn.execute(
                select(records.c.doc).where(records.c.kind == kind).where(records.c.key == key)
            ).first()
        return json.loads(row.doc) if row else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(records.c.doc).where(records.c.kind == kind).order_by(records.c.n)
            )
            return [json.loads(r.doc) for r in rows]
