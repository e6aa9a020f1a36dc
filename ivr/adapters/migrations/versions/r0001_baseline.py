"""Baseline: the call records table as of the first release with migrations.

Creates it in a new database, and adopts a database made before migrations existed.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Column, MetaData, String, Table, Text

from foundation.migrations import adopt

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen at this revision; ivr/adapters/tables.py declares the table as it is now.
frozen = MetaData()

Table(
    "call_records",
    frozen,
    Column("call_sid", String(64), primary_key=True),
    Column("plan_id", String(100), nullable=False, index=True),
    Column("plan_version", String(40), nullable=False),
    Column("clid", Text, nullable=False),
    Column("ddi", Text, nullable=False),
    Column("started_at", String(40), nullable=False, index=True),
    Column("ended_at", String(40), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("end_status", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("missing", Text, nullable=False),
)


def upgrade() -> None:
    adopt(op.get_bind(), frozen)


def downgrade() -> None:
    frozen.drop_all(op.get_bind())
