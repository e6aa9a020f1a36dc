"""Collections: the bridge session that saved a plan's card (the first payment, or a
zero-amount verification when nothing is paid on the day the plan is set up).

Revision ID: c0004
Revises: c0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("collections_plans")}
    if "card_session_id" not in columns:
        with op.batch_alter_table("collections_plans") as batch:
            batch.add_column(sa.Column("card_session_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("collections_plans") as batch:
        batch.drop_column("card_session_id")
