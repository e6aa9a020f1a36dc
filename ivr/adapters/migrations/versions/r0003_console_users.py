"""The console's users, failed sign-ins and audit log.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not roll back a CREATE TABLE: a run that failed half-way is finished here
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "console_users" not in have:
        op.create_table(
            "console_users",
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("password_hash", sa.Text, nullable=False),
            sa.Column("session_epoch", sa.Integer, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
    if "console_sign_in_failures" not in have:
        op.create_table(
            "console_sign_in_failures",
            sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("failures", sa.Integer, nullable=False),
            sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        )
    if "audit_log" not in have:
        op.create_table(
            "audit_log",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("action", sa.String(40), nullable=False),
            sa.Column("target", sa.String(200), nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
        )
        op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_table("console_sign_in_failures")
    op.drop_table("console_users")
