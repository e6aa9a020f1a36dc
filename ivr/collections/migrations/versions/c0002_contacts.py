"""Collections: contact attempts, and each case's progress through its contact policy.

Revision ID: c0002
Revises: c0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    have = {c["name"] for c in inspector.get_columns("collections_cases")}
    if "attempts" not in have:
        with op.batch_alter_table("collections_cases") as batch:
            batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
            batch.add_column(sa.Column("next_contact_at", sa.DateTime(timezone=True)))
        op.create_index(
            "ix_collections_cases_next_contact_at", "collections_cases", ["next_contact_at"]
        )
    if "collections_contacts" not in set(inspector.get_table_names()):
        op.create_table(
            "collections_contacts",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("case_id", sa.Integer, sa.ForeignKey("collections_cases.id"), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("attempt", sa.Integer, nullable=False),
            sa.Column("channel", sa.String(10), nullable=False),
            sa.Column("result", sa.String(20), nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
        )
        op.create_index("ix_collections_contacts_case_id", "collections_contacts", ["case_id"])


def downgrade() -> None:
    op.drop_table("collections_contacts")
    op.drop_index("ix_collections_cases_next_contact_at", "collections_cases")
    with op.batch_alter_table("collections_cases") as batch:
        batch.drop_column("next_contact_at")
        batch.drop_column("attempts")
