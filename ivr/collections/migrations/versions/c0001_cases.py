"""Collections: files taken in, cases and their history.

Revision ID: c0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = sa.text("state NOT IN ('resolved', 'closed')")


def upgrade() -> None:
    # SQLite does not roll back a CREATE TABLE: a run that failed half-way is finished here
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "collections_files" not in have:
        op.create_table(
            "collections_files",
            sa.Column("sha256", sa.String(64), primary_key=True),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("rows_read", sa.Integer, nullable=False),
            sa.Column("opened", sa.Integer, nullable=False),
            sa.Column("already_open", sa.Integer, nullable=False),
            sa.Column("refused", sa.Integer, nullable=False),
        )
    if "collections_cases" not in have:
        op.create_table(
            "collections_cases",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("account", sa.String(40), nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("amount_minor", sa.BigInteger, nullable=False),
            sa.Column("currency", sa.String(3), nullable=False),
            sa.Column("phone", sa.String(20), nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("email", sa.Text, nullable=False),
            sa.Column("reference", sa.Text, nullable=False),
            sa.Column("due_date", sa.Date),
            sa.Column("timezone", sa.String(64), nullable=False),
            sa.Column("campaign", sa.String(40), nullable=False),
            sa.Column("flagged", sa.Boolean, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_collections_cases_account", "collections_cases", ["account"])
        op.create_index("ix_collections_cases_state", "collections_cases", ["state"])
        op.create_index(
            "one_open_case_per_account",
            "collections_cases",
            ["account"],
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )
    if "collections_case_events" not in have:
        op.create_table(
            "collections_case_events",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("case_id", sa.Integer, sa.ForeignKey("collections_cases.id"), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("state_from", sa.String(20), nullable=False),
            sa.Column("state_to", sa.String(20), nullable=False),
            sa.Column("cause", sa.Text, nullable=False),
        )
        op.create_index(
            "ix_collections_case_events_case_id", "collections_case_events", ["case_id"]
        )


def downgrade() -> None:
    op.drop_table("collections_case_events")
    op.drop_table("collections_cases")
    op.drop_table("collections_files")
