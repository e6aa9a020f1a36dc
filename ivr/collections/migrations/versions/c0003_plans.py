"""Collections: payment plans and their scheduled payments.

Revision ID: c0003
Revises: c0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "collections_plans" not in have:
        op.create_table(
            "collections_plans",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("case_id", sa.Integer, sa.ForeignKey("collections_cases.id"), nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("months", sa.Integer, nullable=False),
            sa.Column("card_token", sa.Text),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_collections_plans_case_id", "collections_plans", ["case_id"])
    if "collections_payments" not in have:
        op.create_table(
            "collections_payments",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("plan_id", sa.Integer, sa.ForeignKey("collections_plans.id"), nullable=False),
            sa.Column("case_id", sa.Integer, sa.ForeignKey("collections_cases.id"), nullable=False),
            sa.Column("n", sa.Integer, nullable=False),
            sa.Column("amount_minor", sa.BigInteger, nullable=False),
            sa.Column("due_date", sa.Date, nullable=False),
            sa.Column("state", sa.String(20), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("next_try_at", sa.DateTime(timezone=True)),
            sa.Column("session_id", sa.String(64)),
            sa.Column("confirmation_code", sa.String(16)),
            sa.Column("last_error", sa.Text),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        for column in ("plan_id", "case_id", "state", "next_try_at"):
            op.create_index(f"ix_collections_payments_{column}", "collections_payments", [column])


def downgrade() -> None:
    op.drop_table("collections_payments")
    op.drop_table("collections_plans")
