"""Call records keep the transcript, the start as a time and the length in seconds (filled in
for the records already there).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    have = {c["name"] for c in sa.inspect(bind).get_columns("call_records")}
    with op.batch_alter_table("call_records") as batch:
        if "transcript" not in have:
            batch.add_column(sa.Column("transcript", sa.Text, nullable=False, server_default="[]"))
        if "started_ts" not in have:
            batch.add_column(sa.Column("started_ts", sa.DateTime(timezone=True)))
        if "seconds" not in have:
            batch.add_column(sa.Column("seconds", sa.Integer))
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes("call_records")}
    if "ix_call_records_started_ts" not in indexes:
        op.create_index("ix_call_records_started_ts", "call_records", ["started_ts"])
    table = sa.table(
        "call_records",
        sa.column("call_sid", sa.String),
        sa.column("started_at", sa.String),
        sa.column("ended_at", sa.String),
        sa.column("started_ts", sa.DateTime(timezone=True)),
        sa.column("seconds", sa.Integer),
    )
    rows = bind.execute(sa.select(table.c.call_sid, table.c.started_at, table.c.ended_at))
    for call_sid, started_at, ended_at in list(rows):
        try:
            started = _utc(started_at)
            ended = _utc(ended_at)
        except ValueError:
            continue
        bind.execute(
            sa.update(table)
            .where(table.c.call_sid == call_sid)
            .values(started_ts=started, seconds=max(0, round((ended - started).total_seconds())))
        )


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_index("ix_call_records_started_ts", "call_records")
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("seconds")
        batch.drop_column("started_ts")
        batch.drop_column("transcript")
