"""Baseline: the ledger's tables as of the first release with migrations.

Creates them in a new database, and adopts a database made before migrations existed (its
tables are kept; the nullable columns later versions added are added).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text

from foundation.migrations import adopt

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The tables as they were at this revision (frozen here: later revisions change them, and
# pci_bridge/ledger.py declares them as they are now).
frozen = MetaData()

sessions = Table(
    "pci_sessions",
    frozen,
    Column("id", String(40), primary_key=True),
    Column("state", String(16), nullable=False, index=True),
    Column("clid", String(32), index=True),
    Column("caller_clid", String(32)),
    Column("transfer_number", String(32)),
    Column("amount", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("description", String(200)),
    Column("save_card", Boolean, nullable=False, default=False),
    Column("card_token", String(64)),
    Column("max_cards", Integer),
    Column("idempotency_key", String(255), unique=True),
    Column("request_hash", String(64)),
    Column("created_at", String(40), nullable=False, index=True),
    Column("expires_at", String(40), nullable=False),
    Column("ended_at", String(40)),
    Column("result", Text),
    # Set (in SQL, so it outlives Redis) while a stored-card charge is with the gateway: no
    # restart or sweep takes such a session for a lost leg.
    Column("charging_since", String(40)),
)

attempts = Table(
    "pci_attempts",
    frozen,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(40), nullable=False, index=True),
    Column("n", Integer, nullable=False),
    Column("brand", String(16)),
    Column("last4", String(4)),
    Column("exp_month", Integer),
    Column("exp_year", Integer),
    Column("outcome", String(24), nullable=False),
    Column("gateway_reference", String(64)),
    Column("decline_code", String(40)),
    Column("message", String(200)),
    Column("at", String(40), nullable=False),
)

# Every presentation of a CLID, in order (an autoincrement id, not a clock, decides "latest").
presentations = Table(
    "pci_clid_presentations",
    frozen,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("clid", String(32), nullable=False, index=True),
    Column("session_id", String(40), nullable=False),
)

# The simulated gateway's own records (a real gateway keeps these on its side).
charges = Table(
    "pci_gateway_charges",
    frozen,
    Column("idempotency_key", String(255), primary_key=True),
    Column("result", Text, nullable=False),
)

tokens = Table(
    "pci_gateway_tokens",
    frozen,
    Column("token", String(64), primary_key=True),
    Column("brand", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("behaviour", String(40), nullable=False),
)

# Ended sessions whose outcome the business has not acknowledged yet (pci_bridge/outbox.py);
# a row is written in the same transaction as the session's final state.
outbox = Table(
    "pci_outbox",
    frozen,
    Column("session_id", String(40), primary_key=True),
    Column("body", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(40), nullable=False, index=True),
    Column("delivered_at", String(40), index=True),
    Column("last_error", String(200)),
)


def upgrade() -> None:
    adopt(op.get_bind(), frozen)


def downgrade() -> None:
    frozen.drop_all(op.get_bind())
