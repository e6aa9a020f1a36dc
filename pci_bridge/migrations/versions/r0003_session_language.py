"""A session names the language its payment leg speaks (null: the bridge's own).

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
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pci_sessions")}
    if "language" not in have:
        with op.batch_alter_table("pci_sessions") as batch:
            batch.add_column(sa.Column("language", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("pci_sessions") as batch:
        batch.drop_column("language")
