"""The engine's tables: call records, published plan versions and the console's users and audit
log (one schema, built by the
Alembic revisions in ivr/adapters/migrations, version table alembic_version_ivr)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from foundation.migrations import Schema

metadata = MetaData()

call_records = Table(
    "call_records",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("plan_id", String(100), nullable=False, index=True),
    Column("plan_version", String(40), nullable=False),
    Column("clid", Text, nullable=False),  # SIP addresses can be long
    Column("ddi", Text, nullable=False),
    Column("started_at", String(40), nullable=False, index=True),
    Column("ended_at", String(40), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("end_status", String(32), nullable=False),
    Column("path", Text, nullable=False),  # JSON: [applet, outcome, at, plan, data set]
    Column("missing", Text, nullable=False),
    # what the caller heard and keyed (JSON [at, who, text]); the times as times and the
    # length as a number, for filtering and figures
    Column("transcript", Text, nullable=False, server_default="[]"),
    Column("started_ts", DateTime(timezone=True), index=True),
    Column("seconds", Integer),
    Column("reached_agent", Boolean),  # None: not known (records before it was kept)
    Column("test", Boolean, nullable=False, server_default=false()),  # a softphone call
)

# Every published version of every plan: immutable rows. The newest row of a plan is what it
# serves; a rollback publishes an earlier version's content again as a new row.
plan_versions = Table(
    "plan_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_id", String(100), nullable=False, index=True),
    Column("number", Integer, nullable=False),  # 1, 2, ... per plan
    Column("version", String(40), nullable=False, index=True),  # content hash (calls pin it)
    Column("content", Text, nullable=False),
    Column("author", String(100), nullable=False),
    Column("message", Text, nullable=False),
    Column("source", String(500), nullable=False),  # the file, or how it was published
    Column("published_at", String(40), nullable=False),
    UniqueConstraint("plan_id", "number"),
)

# The plans-folder watcher's view of the files it published (a file is published again only
# when its content changes, so a restart never undoes a rollback).
plan_files = Table(
    "plan_files",
    metadata,
    Column("path", String(500), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("seen_at", String(40), nullable=False),
)

# Which process watches the plans folder (one in the fleet): a lease renewed while it runs.
plan_watch_lease = Table(
    "plan_watch_lease",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

# The console's users: a name, a role, an Argon2 hash. `session_epoch` grows when the password
# or the role changes or the user is removed, which signs out every session of theirs.
console_users = Table(
    "console_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("session_epoch", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Failed sign-ins per user name and per address, for slowing down guessing (any worker sees
# them); a success clears the name's row.
console_sign_in_failures = Table(
    "console_sign_in_failures",
    metadata,
    Column("key", String(200), primary_key=True),  # "user:NAME" or "addr:IP"
    Column("failures", Integer, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

# Who did what, when: publishes, rollbacks, user and role changes, sign-ins. Never a secret.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=False),
    Column("detail", Text, nullable=False),
)

SCHEMA = Schema("ivr", "ivr.adapters", metadata)
