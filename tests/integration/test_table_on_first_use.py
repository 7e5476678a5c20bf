"""Tables made on first use (open alerts, Meta's quality figures) when two processes use
them first at once, on a real PostgreSQL ledger: the one that loses the race to CREATE the
table still records its row. Before, its CREATE failing with PostgreSQL's "duplicate key"
read as "this alert is open already" (the alert was never posted) or failed the fetch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from capisync.state import Ledger
from capisync.state.alert_state import ALERTS, claim_alert, open_alerts
from capisync.state.quality import QUALITY, QualitySnapshot, quality_history, store_quality

POLL_SECONDS = 0.05


@pytest.fixture
def ledger(pg_url: str) -> Iterator[Ledger]:
    opened = Ledger(pg_url)
    try:
        yield opened
    finally:
        opened.close()


def _while_another_creates(ledger: Ledger, table: sa.Table, use: Callable[[], Any]) -> Any:
    """Call `use` while another session has created `table` and not committed yet: `use`'s
    CREATE waits for that session, which then commits, so `use` loses the race."""
    with ledger.engine.begin() as conn:
        table.drop(conn, checkfirst=True)  # as in a ledger made before this table existed
    other = sa.create_engine(ledger.engine.url)
    result: list[Any] = []
    failed: list[BaseException] = []

    def call() -> None:
        try:
            result.append(use())
        except BaseException as exc:  # handed to the test below
            failed.append(exc)

    try:
        with other.connect() as holder:
            holder_pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            holder.commit()
            with holder.begin():
                table.create(holder)
                worker = threading.Thread(target=call)
                worker.start()
                blocked = (
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
                )
                with other.connect() as watcher:
                    while not watcher.exec_driver_sql(blocked, (holder_pid,)).scalar():
                        assert worker.is_alive(), failed  # it must wait on the CREATE
                        time.sleep(POLL_SECONDS)
        worker.join()
    finally:
        other.dispose()
    if failed:
        raise failed[0]
    return result[0]


def test_an_alert_claimed_as_another_process_creates_the_table_is_opened(
    ledger: Ledger,
) -> None:
    opened = _while_another_creates(
        ledger, ALERTS, lambda: claim_alert(ledger, "b", "failed_run", 1.0)
    )
    assert opened is True  # this process opened it: it posts it
    assert open_alerts(ledger, "b") == {"failed_run"}
    assert claim_alert(ledger, "b", "failed_run", 2.0) is False  # open now: not posted again


def test_quality_stored_as_another_process_creates_the_table_is_kept(ledger: Ledger) -> None:
    snapshot = QualitySnapshot("b", "1234567890", 1.0, "v24.0", "capisync", events=())
    _while_another_creates(ledger, QUALITY, lambda: store_quality(ledger, "b", snapshot, 2.0))
    assert [s.fetched_at for s in quality_history(ledger, "b")] == [1.0]
