"""Call records say whether the call reached an agent (the console's containment figure, in
SQL rather than worked out from each record's path).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("call_records")}
    if "reached_agent" not in have:
        with op.batch_alter_table("call_records") as batch:
            batch.add_column(sa.Column("reached_agent", sa.Boolean))


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("reached_agent")
