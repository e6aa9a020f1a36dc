"""Baseline: the demo billing store's tables as of the first release with migrations.

Creates them in a new database, and adopts a database made before migrations existed.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, UniqueConstraint

from foundation.migrations import adopt

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen at this revision; demo/billing/store.py declares the tables as they are now.
frozen = MetaData()

Table(
    "demo_billing_accounts",
    frozen,
    Column("id", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("doc", Text, nullable=False),
)

Table(
    "demo_billing_records",
    frozen,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("account", String(40), nullable=False, index=True),
    Column("doc", Text, nullable=False),
    UniqueConstraint("kind", "key"),
)


def upgrade() -> None:
    adopt(op.get_bind(), frozen)


def downgrade() -> None:
    frozen.drop_all(op.get_bind())
