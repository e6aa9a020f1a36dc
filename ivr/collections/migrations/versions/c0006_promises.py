"""Collections: promises to pay, each checked the day after its date; Twilio's delivery
reports of texts, kept until the text's contact is recorded (a report can come first).

Revision ID: c0006
Revises: c0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "collections_sms_reports" not in have:
        op.create_table(
            "collections_sms_reports",
            sa.Column("sid", sa.String(64), primary_key=True),
            sa.Column("result", sa.String(20), nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        )
    if "collections_promises" in have:
        return
    op.create_table(
        "collections_promises",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("collections_cases.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("promised_for", sa.Date, nullable=False),
        sa.Column("owed_minor", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("check_at", sa.DateTime(timezone=True)),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_collections_promises_case_id", "collections_promises", ["case_id"])
    op.create_index("ix_collections_promises_check_at", "collections_promises", ["check_at"])


def downgrade() -> None:
    op.drop_table("collections_promises")
    op.drop_table("collections_sms_reports")
