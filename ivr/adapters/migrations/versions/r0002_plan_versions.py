"""Published plan versions, the plans-folder watcher's files and its lease.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not roll back a CREATE TABLE: a run that failed half-way is finished here
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "plan_versions" not in have:
        _plan_versions()
    if "plan_files" not in have:
        _plan_files()
    if "plan_watch_lease" not in have:
        _lease()


def _plan_versions() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(100), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("plan_id", "number"),
    )
    op.create_index("ix_plan_versions_plan_id", "plan_versions", ["plan_id"])
    op.create_index("ix_plan_versions_version", "plan_versions", ["version"])


def _plan_files() -> None:
    op.create_table(
        "plan_files",
        sa.Column("path", sa.String(500), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.String(40), nullable=False),
    )


def _lease() -> None:
    op.create_table(
        "plan_watch_lease",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_watch_lease")
    op.drop_table("plan_files")
    op.drop_index("ix_plan_versions_version", "plan_versions")
    op.drop_index("ix_plan_versions_plan_id", "plan_versions")
    op.drop_table("plan_versions")
