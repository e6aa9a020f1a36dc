"""The collections tables: files taken in, cases, and each case's history (its own schema,
version table alembic_version_collections, beside the engine's in the same database)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from foundation.migrations import Schema

metadata = MetaData()

# Every file taken in, by the SHA-256 of its content: the same content again changes nothing.
collections_files = Table(
    "collections_files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("opened", Integer, nullable=False),
    Column("already_open", Integer, nullable=False),
    Column("refused", Integer, nullable=False),
)

# One case per account in arrears; at most one open (not resolved or closed) per account.
collections_cases = Table(
    "collections_cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(40), nullable=False, index=True),
    Column("state", String(20), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("due_date", Date),
    Column("timezone", String(64), nullable=False),
    Column("campaign", String(40), nullable=False),
    Column("flagged", Boolean, nullable=False),  # the billing service holds the flag
    Column("source", Text, nullable=False),  # FILE:LINE it came from
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # the contact policy's progress: rounds made, and when the next is due (None: not now)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_contact_at", DateTime(timezone=True), index=True),
    Index(
        "one_open_case_per_account",
        "account",
        unique=True,
        sqlite_where=text("state NOT IN ('resolved', 'closed')"),
        postgresql_where=text("state NOT IN ('resolved', 'closed')"),
    ),
)

# What happened to a case, in order: each change of state (or of its flag) with time and cause.
collections_case_events = Table(
    "collections_case_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("collections_cases.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("state_from", String(20), nullable=False),
    Column("state_to", String(20), nullable=False),
    Column("cause", Text, nullable=False),
)

# Every attempt to reach the customer and its result (sent, delivered, failed, answered,
# no answer, busy, voicemail); `detail` is a message id or the reason, never what was said.
collections_contacts = Table(
    "collections_contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("collections_cases.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("result", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Index(
        "one_contact_per_inbound_call",
        "case_id",
        "detail",
        unique=True,
        sqlite_where=text("channel = 'inbound'"),
        postgresql_where=text("channel = 'inbound'"),
    ),
)

# A payment plan agreed for a case: its instalments are child payments (below), charged on
# their dates with the card token saved when the first was taken (a token, never card data).
collections_plans = Table(
    "collections_plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("collections_cases.id"), nullable=False, index=True),
    Column("state", String(20), nullable=False),  # pending_card, active, resolved, failed
    Column("months", Integer, nullable=False),
    Column("card_token", Text),
    # the bridge session that saved the card: the first payment, or a zero-amount
    # verification when nothing is paid on the day the plan is set up
    Column("card_session_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(
        "one_plan_in_force_per_case",
        "case_id",
        unique=True,
        sqlite_where=text("state IN ('pending_card', 'active')"),
        postgresql_where=text("state IN ('pending_card', 'active')"),
    ),
)

# Each scheduled (or taken) payment of a plan.
collections_payments = Table(
    "collections_payments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_id", Integer, ForeignKey("collections_plans.id"), nullable=False, index=True),
    Column("case_id", Integer, ForeignKey("collections_cases.id"), nullable=False, index=True),
    Column("n", Integer, nullable=False),  # 1, 2, 3 in the plan
    Column("amount_minor", BigInteger, nullable=False),
    Column("due_date", Date, nullable=False),
    # scheduled, charging (claimed by a worker), taken, failed (no more tries)
    Column("state", String(20), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),  # charge attempts made (the idempotency key's)
    Column("next_try_at", DateTime(timezone=True), index=True),
    Column("session_id", String(64)),  # the bridge session of the latest attempt
    # the latest attempt's idempotency key, set when a worker claims it
    Column("charge_key", String(120)),
    Column("confirmation_code", String(16)),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

SCHEMA = Schema("collections", "ivr.collections", metadata)

# Promises to pay made on calls: checked against the billing service the day after their date
# (`owed_minor`: what the account owed when the promise was made).
collections_promises = Table(
    "collections_promises",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("collections_cases.id"), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("promised_for", Date, nullable=False),
    Column("owed_minor", BigInteger, nullable=False),
    Column("state", String(10), nullable=False),  # open, kept, broken
    Column("check_at", DateTime(timezone=True), index=True),  # None once checked
    Column("call_sid", String(64), nullable=False),  # the call it was made on
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Twilio's delivery report of each text (delivered, failed), kept so that a report arriving
# before its text's contact is recorded is applied to it afterwards.
collections_sms_reports = Table(
    "collections_sms_reports",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("result", String(20), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# This deployment's collections: `deployment`, a random id the charges' keys carry.
collections_meta = Table(
    "collections_meta",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)
