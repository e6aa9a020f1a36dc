"""Collections: the idempotency key of each scheduled payment's charge, recorded when a worker
claims it (so a charge tried again after a crash reuses exactly that key), and an id of this
deployment's collections that the keys carry (two deployments sharing one PCI bridge never
share a key).

Revision ID: c0005
Revises: c0004
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    meta = sa.table("collections_meta", sa.column("name"), sa.column("value"))
    if "collections_meta" not in have:
        op.create_table(
            "collections_meta",
            sa.Column("name", sa.String(40), primary_key=True),
            sa.Column("value", sa.String(200), nullable=False),
        )
    found = bind.execute(sa.select(meta.c.value).where(meta.c.name == "deployment")).first()
    if found is None:
        op.bulk_insert(meta, [{"name": "deployment", "value": secrets.token_hex(8)}])
    columns = {c["name"] for c in sa.inspect(bind).get_columns("collections_payments")}
    if "charge_key" not in columns:
        with op.batch_alter_table("collections_payments") as batch:
            batch.add_column(sa.Column("charge_key", sa.String(120)))


def downgrade() -> None:
    with op.batch_alter_table("collections_payments") as batch:
        batch.drop_column("charge_key")
    op.drop_table("collections_meta")
