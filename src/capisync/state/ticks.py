"""Claimed schedule ticks: two `capisync serve` processes on one ledger run each tick once.

One row per (sync, tick time): the first process to insert it runs that tick, the others
find the row there and skip (INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL, the
ledger's two backends: state/dialects.py). A tick is the schedule's fire time in whole epoch
seconds, the same in every process (serve/schedule.py computes it from the schedule alone).
Runs started through the HTTP API claim no tick: the sync's lock keeps them one at a time.

    claim_tick(ledger, "purchases", 1767225600, owner="host:pid:nonce", now=clock())  # bool

Rows older than KEEP_SECONDS are deleted as new ticks are claimed.
"""

from __future__ import annotations

import weakref

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from capisync.state.ledger import Ledger, create_on_first_use, dialect_insert, ledger_failure

KEEP_SECONDS = 7 * 86400  # a week of claimed ticks, to see which process ran which

_metadata = sa.MetaData()
TICKS = sa.Table(
    "capisync_ticks",
    _metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("tick_at", sa.BigInteger, primary_key=True),  # epoch seconds of the tick
    sa.Column("owner", sa.String(300), nullable=False),  # host:pid:nonce of the claimant
    sa.Column("claimed_at", sa.Float, nullable=False),
)


def claim_tick(ledger: Ledger, sync: str, tick_at: float, *, owner: str, now: float) -> bool:
    """Claim the sync's tick at `tick_at` (epoch seconds, rounded to a whole second): True
    when this call inserted it (run the tick), False when another process had (skip it).
    Raises LedgerError (LedgerUnavailableError: try again later) when the ledger fails."""
    engine = ledger.engine
    row = {"sync": sync, "tick_at": round(tick_at), "owner": owner, "claimed_at": now}
    try:
        _create_table(engine)
        insert = dialect_insert(engine)
        with engine.begin() as conn:
            ledger.check_file()
            # RETURNING says whether this insert happened (psycopg's rowcount may be -1)
            claim = insert(TICKS).values(**row).on_conflict_do_nothing()
            won = conn.execute(claim.returning(TICKS.c.tick_at)).first() is not None
            conn.execute(
                TICKS.delete().where(TICKS.c.sync == sync, TICKS.c.tick_at < now - KEEP_SECONDS)
            )
            return won
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", exc)
        where = f"{ledger.shown}: {type(orig).__name__}"
        raise ledger_failure(exc, f"cannot claim a schedule tick in the ledger at {where}") from exc


def claimed_by(ledger: Ledger, sync: str, tick_at: float) -> str | None:
    """Who claimed the sync's tick at `tick_at`, or None (for logs and tests)."""
    _create_table(ledger.engine)
    with ledger.engine.connect() as conn:
        found = conn.execute(
            sa.select(TICKS.c.owner).where(TICKS.c.sync == sync, TICKS.c.tick_at == round(tick_at))
        ).scalar()
    return None if found is None else str(found)


_created: weakref.WeakSet[sa.Engine] = weakref.WeakSet()  # engines that have the table


def _create_table(engine: sa.Engine) -> None:
    """Create capisync_ticks once per engine (claim_tick runs every tick: the check is not
    repeated), surviving two processes creating it at once (ledger.create_on_first_use)."""
    if engine in _created:
        return
    create_on_first_use(engine, TICKS)
    _created.add(engine)
