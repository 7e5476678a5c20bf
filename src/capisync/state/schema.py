"""Ledger tables, portable across SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa

from capisync.capi.outcome import LEDGER_TEXT_CHARS

metadata = sa.MetaData()

# a run's counts: read = already + baseline + sent + rejected + duplicate + expired + pending;
# read = already + new + retried (rows rejected before, evaluated again); `duplicate` rows
# repeat an identifier this run already read (reported, never stored)
COUNT_FIELDS = (
    "read",
    "new",
    "retried",
    "already",
    "baseline",
    "sent",
    "rejected",
    "duplicate",
    "expired",
    "pending",
    "requests",
)
# the states a row read by a run ends in: they add up to `read`
END_STATES = ("already", "baseline", "sent", "rejected", "duplicate", "expired", "pending")

# one row per (sync, identifier): its latest state
LEDGER = sa.Table(
    "capisync_ledger",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("identifier", sa.String(LEDGER_TEXT_CHARS), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # sent | rejected | expired | baseline
    sa.Column("event_id", sa.String(LEDGER_TEXT_CHARS)),
    sa.Column("run_id", sa.Integer),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("fbtrace_id", sa.String(100)),
    sa.Column("fingerprint", sa.String(64)),  # sha256 of the event Meta rejected
    sa.Column("by_meta", sa.Boolean, nullable=False, default=False),
    sa.Column("reasons", sa.Text),  # JSON list of {code, key, message}
)
# the settled rows of a sync, and those a run settled after a given run (state/settled_copy.py)
sa.Index("capisync_ledger_settled", LEDGER.c.sync, LEDGER.c.state, LEDGER.c.run_id)
# the (sync, state) index of earlier ledgers: the index above serves its queries
_REPLACED_INDEXES = ("capisync_ledger_state",)

# facts about the ledger itself: `key` is a random name made when the ledger is created
INFO = sa.Table(
    "capisync_info",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# the largest run id: `id` is an Integer, 32 bits on PostgreSQL (64 on SQLite), so a larger
# number names no run on any ledger (the API refuses it before asking the database)
MAX_RUN_ID = 2**31 - 1

RUNS = sa.Table(
    "capisync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(200), nullable=False, index=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    # running | completed | failed | interrupted | abandoned (its process died)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    # set for a test run (Meta's Test Events): it sends, but settles no row in the ledger
    sa.Column("test_event_code", sa.String(100)),
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


def add_missing_columns(engine: sa.Engine) -> None:
    """Bring a ledger made by an earlier capisync up to these tables: every column a table
    lacks is added (nullable or with its default), so old runs keep their history, and its
    indexes are the ones above. Raises SQLAlchemyError when the ledger cannot be altered."""
    inspector = sa.inspect(engine)
    present_indexes = {i["name"] for i in inspector.get_indexes(LEDGER.name)}
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                arg = getattr(column.default, "arg", None)
                default = f" DEFAULT {int(arg)}" if isinstance(arg, int) else ""
                conn.exec_driver_sql(
                    f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{default}'
                )
        for index in LEDGER.indexes:
            if index.name not in present_indexes:
                index.create(conn, checkfirst=True)
        for name in _REPLACED_INDEXES:
            if name in present_indexes:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
