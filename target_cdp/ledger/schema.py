"""The ledger's tables (SQLAlchemy Core), created on first use and versioned in `cdp_meta`.

Every table name starts with `cdp_` so the ledger can share a database (e.g. Meltano's
system database on PostgreSQL). `SCHEMA_VERSION` grows when a release changes the tables;
a release refuses a ledger whose version is newer than its own (it cannot know the change).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "cdp_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

routes = Table(
    "cdp_routes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", String(512), nullable=False, unique=True),  # `stream -> destination:type`
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# What was last delivered for each record key of a route.
delivered = Table(
    "cdp_delivered",
    metadata,
    Column("route_id", Integer, primary_key=True),
    Column("record_key", String(1024), primary_key=True),
    Column("payload_hash", String(32), nullable=False),  # blake2b-128 of the mapped payload
    Column("delete_values", Text),  # JSON: what a later delete sends (delete_missing routes)
    Column("deleted", Boolean, nullable=False, default=False),  # last delivered as a delete
    Column("version", BigInteger),  # the last full-table version the key was seen in
    Column("delivered_at", DateTime(timezone=True), nullable=False),
    Column("run_id", Integer),
)

# Records not delivered: `pending` (transient: resent by the next run when `retry_failed`)
# or `refused` (for their data: not resent until what would be sent changes).
failures = Table(
    "cdp_failures",
    metadata,
    Column("route_id", Integer, primary_key=True),
    Column("record_key", String(1024), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("payload_hash", String(32), nullable=False),
    Column("payload", Text),  # pending only: JSON {"key": ..., "record": ...} or {"delete": ...}
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("run_id", Integer),
    Column("claimed_by", String(64)),  # the run resending it now
    Column("claimed_at", DateTime(timezone=True)),
)
Index("cdp_failures_kind", failures.c.route_id, failures.c.kind)

# One row a run per route: the summary counts.
runs = Table(
    "cdp_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route_id", Integer, nullable=False),
    Column("run_token", String(64), nullable=False),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(32), nullable=False),
    Column("received", Integer, nullable=False, default=0),
    Column("delivered", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("added", Integer, nullable=False, default=0),
    Column("changed", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("pending", Integer, nullable=False, default=0),
    Column("retried", Integer, nullable=False, default=0),
    Column("requests", Integer, nullable=False, default=0),
    Column("retries", Integer, nullable=False, default=0),
)
Index("cdp_runs_route", runs.c.route_id, runs.c.started_at)

# Identifiers a destination handed out, remembered per value (EngageLab euids).
remembered_ids = Table(
    "cdp_remembered_ids",
    metadata,
    Column("namespace", String(255), primary_key=True),
    Column("value", String(1024), primary_key=True),
    Column("remote_id", Text, nullable=False),
    Column("remembered_at", DateTime(timezone=True), nullable=False),
)
