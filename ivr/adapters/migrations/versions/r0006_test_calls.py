"""Call records say whether the call was a test call (the console's softphone): the dashboard
counts live calls and test calls apart.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("call_records")}
    if "test" not in have:
        with op.batch_alter_table("call_records") as batch:
            batch.add_column(
                sa.Column("test", sa.Boolean, nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("test")
