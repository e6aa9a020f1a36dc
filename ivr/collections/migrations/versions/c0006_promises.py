"""Collections: promises to pay, each checked the day after its date; Twilio's delivery
reports of texts, kept until the text's contact is recorded (a report can come first); at most
one plan in force per case, and one contact per inbound call, said by unique indexes.

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


IN_FORCE = "state IN ('pending_card', 'active')"
INBOUND = "channel = 'inbound'"


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes("collections_plans")}
    if "one_plan_in_force_per_case" not in indexes:
        op.create_index(
            "one_plan_in_force_per_case", "collections_plans", ["case_id"], unique=True,
            sqlite_where=sa.text(IN_FORCE), postgresql_where=sa.text(IN_FORCE),
        )  # fmt: skip
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes("collections_contacts")}
    if "one_contact_per_inbound_call" not in indexes:
        op.create_index(
            "one_contact_per_inbound_call", "collections_contacts", ["case_id", "detail"],
            unique=True, sqlite_where=sa.text(INBOUND), postgresql_where=sa.text(INBOUND),
        )  # fmt: skip
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
    op.drop_index("one_contact_per_inbound_call", "collections_contacts")
    op.drop_index("one_plan_in_force_per_case", "collections_plans")
    op.drop_table("collections_promises")
    op.drop_table("collections_sms_reports")
