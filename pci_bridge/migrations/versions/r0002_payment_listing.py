"""Payments can be found and listed (GET /pci/v1/payments): each ended session's confirmation
code (unique), outcome, amount in minor units and end time as columns, filled in for the
sessions already there; references and callers indexed for inquiries.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    have = {c["name"] for c in sa.inspect(bind).get_columns("pci_sessions")}
    with op.batch_alter_table("pci_sessions") as batch:
        if "confirmation_code" not in have:
            batch.add_column(sa.Column("confirmation_code", sa.String(8)))
        if "outcome" not in have:
            batch.add_column(sa.Column("outcome", sa.String(24)))
        if "amount_minor" not in have:
            batch.add_column(sa.Column("amount_minor", sa.BigInteger))
        if "ended_ts" not in have:
            batch.add_column(sa.Column("ended_ts", sa.DateTime(timezone=True)))
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes("pci_sessions")}
    if "ix_pci_sessions_confirmation_code" not in indexes:
        op.create_index(
            "ix_pci_sessions_confirmation_code", "pci_sessions", ["confirmation_code"], unique=True
        )
    if "ix_pci_sessions_outcome" not in indexes:
        op.create_index("ix_pci_sessions_outcome", "pci_sessions", ["outcome"])
    if "ix_pci_sessions_ended_ts" not in indexes:
        op.create_index("ix_pci_sessions_ended_ts", "pci_sessions", ["ended_ts"])
    if "ix_pci_sessions_reference" not in indexes:
        op.create_index("ix_pci_sessions_reference", "pci_sessions", ["reference"])
    if "ix_pci_sessions_caller_clid" not in indexes:
        op.create_index("ix_pci_sessions_caller_clid", "pci_sessions", ["caller_clid"])
    _fill(bind)


def _fill(bind: sa.Connection) -> None:
    table = sa.table(
        "pci_sessions",
        sa.column("id", sa.String),
        sa.column("amount", sa.String),
        sa.column("ended_at", sa.String),
        sa.column("result", sa.Text),
        sa.column("confirmation_code", sa.String),
        sa.column("outcome", sa.String),
        sa.column("amount_minor", sa.BigInteger),
        sa.column("ended_ts", sa.DateTime(timezone=True)),
    )
    seen: set[str] = set()
    rows = bind.execute(sa.select(table.c.id, table.c.amount, table.c.ended_at, table.c.result))
    for session_id, amount, ended_at, result in list(rows):
        values: dict[str, object] = {"amount_minor": int(Decimal(amount) * 100)}
        if ended_at:
            ended = datetime.fromisoformat(ended_at)
            values["ended_ts"] = ended if ended.tzinfo else ended.replace(tzinfo=UTC)
        if result:
            parsed = json.loads(result)
            values["outcome"] = parsed.get("outcome")
            code = parsed.get("confirmation_code")
            if code and code not in seen:  # codes made before this revision may repeat
                values["confirmation_code"] = code
                seen.add(code)
        bind.execute(sa.update(table).where(table.c.id == session_id).values(**values))


def downgrade() -> None:
    op.drop_index("ix_pci_sessions_caller_clid", "pci_sessions")
    op.drop_index("ix_pci_sessions_reference", "pci_sessions")
    op.drop_index("ix_pci_sessions_ended_ts", "pci_sessions")
    op.drop_index("ix_pci_sessions_outcome", "pci_sessions")
    op.drop_index("ix_pci_sessions_confirmation_code", "pci_sessions")
    with op.batch_alter_table("pci_sessions") as batch:
        batch.drop_column("ended_ts")
        batch.drop_column("amount_minor")
        batch.drop_column("outcome")
        batch.drop_column("confirmation_code")
