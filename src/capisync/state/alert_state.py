"""Which alerts are open, per sync, in the ledger: so an alert is posted once while its
condition holds, and "resolved" once when it clears.

Kept in the ledger, not in memory, because the processes that fire alerts come and go and
may be several: `capisync run` from cron starts a new process every tick, a restarted
`serve` would otherwise post every open alert again, and two `serve` processes on one
ledger must not both post it. Opening an alert is an INSERT of its (sync, key) row: of two
processes, the one whose INSERT succeeds posts it. The table is created on first use, so a
ledger made by an earlier capisync gains it without a migration step. It holds rule keys and
times, never a value from a row.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from capisync.state.ledger import Ledger, create_on_first_use, ledger_failure
from capisync.state.schema import metadata

ALERTS = sa.Table(
    "capisync_alerts",
    metadata,
    sa.Column("sync", sa.String(200), primary_key=True),
    sa.Column("alert_key", sa.String(200), primary_key=True),  # kind, or kind:subject
    sa.Column("opened_at", sa.Float, nullable=False),  # UNIX seconds, when it was claimed
)


def claim_alert(ledger: Ledger, sync: str, key: str, now: float) -> bool:
    """Open the alert `key` of `sync`: True when this call opened it (post it), False when it
    is open already (posted before, by this process or another). Raises LedgerError."""
    try:
        create_on_first_use(ledger.engine, ALERTS)
        with ledger.engine.begin() as conn:
            conn.execute(ALERTS.insert().values(sync=sync, alert_key=key, opened_at=now))
    except IntegrityError:
        return False
    except SQLAlchemyError as exc:
        raise ledger_failure(exc, "cannot record an alert in the ledger") from exc
    return True


def release_alert(ledger: Ledger, sync: str, key: str) -> bool:
    """Close the alert `key` of `sync`: True when it was open (post "resolved"), False when
    it was not. Also undoes a claim whose post failed, so the next check posts it again.
    Raises LedgerError."""
    try:
        create_on_first_use(ledger.engine, ALERTS)
        with ledger.engine.begin() as conn:
            gone = conn.execute(
                ALERTS.delete().where(ALERTS.c.sync == sync, ALERTS.c.alert_key == key)
            )
    except SQLAlchemyError as exc:
        raise ledger_failure(exc, "cannot record an alert in the ledger") from exc
    return bool(gone.rowcount)


def open_alerts(ledger: Ledger, sync: str) -> set[str]:
    """The keys of `sync`'s open alerts. Raises LedgerError."""
    try:
        if not sa.inspect(ledger.engine).has_table(ALERTS.name):
            return set()
        with ledger.engine.connect() as conn:
            rows = conn.execute(sa.select(ALERTS.c.alert_key).where(ALERTS.c.sync == sync))
            return {str(r[0]) for r in rows}
    except SQLAlchemyError as exc:
        raise ledger_failure(exc, "cannot read the open alerts from the ledger") from exc
