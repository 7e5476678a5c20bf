"""The ledger at scale, on SQLite and on a real PostgreSQL: look-ups by primary key whatever the
server's statistics say (a new table, autovacuum off), the settled set streamed in chunks,
and pruning of rows too old to be sent again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capisync.state import BASELINE, EXPIRED, Ledger, Rejected

ROWS = 30_000


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        led = Ledger(str(tmp_path / "state.db"))
    else:
        led = Ledger(request.getfixturevalue("pg_url"))
        with led.engine.begin() as conn:  # no statistics will ever be gathered
            conn.exec_driver_sql(
                "ALTER TABLE capisync_ledger SET (autovacuum_enabled = false, "
                "toast.autovacuum_enabled = false)"
            )
    yield led
    led.close()


def fill(ledger: Ledger, now: float = 1000.0) -> None:
    """ROWS sent rows in one bulk checkpoint, plus a rejected, an expired and a baseline row."""
    sent = [(f"id-{i}", f"e-{i}", None) for i in range(ROWS)]
    run = ledger.start_run("s", dry_run=False, now=now)
    ledger.checkpoint(
        "s",
        run,
        now,
        sent=sent,
        rejected=[Rejected("bad", [{"code": "x", "key": None, "message": "m"}])],
        marked={EXPIRED: ["old"], BASELINE: ["base"]},
    )


def captured(ledger: Ledger) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        if "capisync_ledger" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", before)
    return seen


def test_lookups_use_the_primary_key_on_a_table_without_statistics(ledger: Ledger) -> None:
    fill(ledger)
    seen = captured(ledger)
    wanted = [f"id-{i}" for i in range(0, ROWS, 7)][:2000]
    found = ledger.lookup("s", wanted + ["unknown"])
    assert sorted(found) == sorted(wanted)
    assert 1 <= len(seen) <= 3  # a few bulk queries, never one per row
    statement, params = seen[0]
    with ledger.engine.connect() as conn:
        if ledger.engine.dialect.name == "postgresql":
            stats = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'capisync_ledger' "
                "AND relnamespace = current_schema()::regnamespace"
            ).scalar_one()
            assert stats <= 0  # never analyzed: the planner has no statistics
            plan = "\n".join(
                r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params).all()
            )
            assert "Index Scan using capisync_ledger_pkey" in plan, plan
            assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
        else:
            plan = "\n".join(
                str(r[-1])
                for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            )
            assert "USING INDEX" in plan and "SCAN" not in plan.replace("SEARCH", ""), plan


def test_the_settled_set_streams_sent_expired_and_baseline_rows_not_rejected_ones(
    ledger: Ledger,
) -> None:
    fill(ledger)
    chunks = list(ledger.settled("s", chunk=7_000))
    assert max(len(c) for c in chunks) <= 7_000 and len(chunks) >= ROWS // 7_000
    states = {i: s for chunk in chunks for i, s in chunk}
    assert len(states) == ROWS + 2 and "bad" not in states
    assert (states["id-5"], states["old"], states["base"]) == ("sent", "expired", "baseline")
    assert list(ledger.settled("other")) == []


def test_pruning_deletes_rows_written_before_the_cutoff_and_only_those(ledger: Ledger) -> None:
    fill(ledger, now=1000.0)
    run = ledger.start_run("s", dry_run=False, now=5000.0)
    ledger.checkpoint("s", run, 5000.0, sent=[("id-1", "e-1", None), ("new", "e-new", None)])
    other = ledger.start_run("t", dry_run=False, now=10.0)
    ledger.checkpoint("t", other, 10.0, sent=[("id-2", "e-2", None)])
    assert ledger.prune("s", settled_before=4000.0) == ROWS + 2  # id-1 was written again
    assert sorted(ledger.lookup("s", ["id-1", "id-2", "new", "bad", "old"])) == ["id-1", "new"]
    assert list(ledger.lookup("t", ["id-2"])) == ["id-2"]  # another sync's rows are its own


def explained(ledger: Ledger, statement: str, params: Any) -> str:
    with ledger.engine.connect() as conn:
        if ledger.engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
            return "\n".join(r[0] for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        return "\n".join(str(r[-1]) for r in rows)


def test_pruning_walks_the_index_of_old_runs_not_the_table(
    ledger: Ledger,
) -> None:
    fill(ledger, now=1000.0)
    deletes: list[tuple[str, Any]] = []

    def before(_conn: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM CAPISYNC_LEDGER"):
            deletes.append((statement, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", before)
    assert ledger.prune("s", settled_before=500.0) == 0
    assert deletes == []  # no run started before the cutoff: no row can be that old
    assert ledger.prune("s", settled_before=900_000.0) == ROWS + 3
    (statement, params), *_ = deletes
    plan = explained(ledger, statement, params)
    assert "capisync_ledger_settled" in plan and "Seq Scan" not in plan, plan
    if ledger.engine.dialect.name == "sqlite":
        assert "SCAN" not in plan.replace("SEARCH", ""), plan
