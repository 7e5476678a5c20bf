"""Ledger tables, portable across SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# a run's counts: read = already + baseline + sent + rejected + expired + pending;
# read = already + new + retried (rows rejected before, evaluated again)
COUNT_FIELDS = (
    "read",
    "new",
    "retried",
    "already",
    "baseline",
    "sent",
    "rejected",
    "expired",
    "pending",
    "requests",
)

# one row per (sync, identifier): its latest state
LEDGER = sa.Table(
    "capisync_ledger",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("identifier", sa.String(500), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # sent | rejected | expired | baseline
    sa.Column("event_id", sa.String(500)),
    sa.Column("run_id", sa.Integer),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("fbtrace_id", sa.String(100)),
    sa.Column("fingerprint", sa.String(64)),  # sha256 of the event Meta rejected
    sa.Column("by_meta", sa.Boolean, nullable=False, default=False),
    sa.Column("reasons", sa.Text),  # JSON list of {code, key, message}
)
sa.Index("capisync_ledger_state", LEDGER.c.sync, LEDGER.c.state)

RUNS = sa.Table(
    "capisync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(200), nullable=False, index=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("status", sa.String(16), nullable=False),  # running|completed|failed|interrupted
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    *(sa.Column(name, sa.Integer, default=0) for name in COUNT_FIELDS),
    sa.Column("error", sa.Text),
    sa.Column("details", sa.Text),  # JSON: reasons by code, warnings by code, match-key coverage
)

LOCKS = sa.Table(
    "capisync_locks",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(300), nullable=False),  # host:pid:uuid
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)
