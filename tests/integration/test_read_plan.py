"""Only rows with work to do leave the warehouse: the event-time window pushed into the query
and the anti-join against the ledger's settled identifiers (real DuckDB files, real runs
against the sandbox), bulk ledger look-ups, and pruning."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
import sqlalchemy as sa

from capisync.capi.params import EVENT_MAX_AGE_SECONDS, PHYSICAL_STORE_MAX_AGE_SECONDS
from capisync.config import Project, load_project
from capisync.readplan import PRUNE_AFTER_SECONDS, READ_MARGIN_SECONDS
from capisync.sandbox import SandboxConfig, SandboxServer
from capisync.state import Ledger
from capisync.sync import RunReport, run_sync

NOW = datetime.now(UTC).replace(microsecond=0).timestamp()
SHIFT = [0.0]  # seconds the sandbox's clock runs ahead, for runs at a later date


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(clock=lambda: time.time() + SHIFT[0])) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def project(tmp_path: Path, sandbox: SandboxServer, extra: str = "") -> Project:
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
{extra}""")
    return load_project(config, env=dict(os.environ))


def write_table(path: Path, time_type: str, rows: list[tuple[Any, ...]]) -> None:
    """Table t: (order_id, event_time, action_source); every row a valid Purchase."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"CREATE OR REPLACE TABLE t (order_id VARCHAR, event_time {time_type}, "
            "action_source VARCHAR, event_name VARCHAR DEFAULT 'Purchase', "
            "email VARCHAR DEFAULT 'jane@example.com', value DECIMAL(8, 2) DEFAULT 12.5, "
            "currency VARCHAR DEFAULT 'USD')"
        )
        con.executemany(
            "INSERT INTO t (order_id, event_time, action_source) VALUES (?, ?, ?)", rows
        )


def add_rows(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with duckdb.connect(str(path)) as con:
        con.executemany(
            "INSERT INTO t (order_id, event_time, action_source) VALUES (?, ?, ?)", rows
        )


def run(p: Project, now: float = NOW) -> RunReport:
    report = run_sync(p, "s", clock=lambda: now)
    assert report.status == "completed", report.error
    c = report.counts
    states = ("already", "baseline", "sent", "rejected", "duplicate", "expired", "pending")
    assert c["read"] == sum(c[k] for k in states)
    return report


def sent_ids(sandbox: SandboxServer) -> list[str]:
    return [e.event["event_id"] for e in sandbox.store.events()]


# -- the time window ------------------------------------------------------------------------

CUTOFF_STORE = NOW - PHYSICAL_STORE_MAX_AGE_SECONDS - READ_MARGIN_SECONDS


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles", "UTC"])
def test_naive_timestamps_are_cut_in_the_syncs_time_zone(
    tmp_path: Path, sandbox: SandboxServer, zone: str
) -> None:
    """A naive TIMESTAMP half an hour inside the window (in the sync's zone) is read and
    expired by the builder; one half an hour outside is not read at all."""

    def local(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, ZoneInfo(zone)).replace(tzinfo=None)

    write_table(
        tmp_path / "w.duckdb",
        "TIMESTAMP",
        [
            ("inside", local(CUTOFF_STORE + 1800), "physical_store"),
            ("outside", local(CUTOFF_STORE - 1800), "physical_store"),
            ("fresh", local(NOW - 86400), "physical_store"),
            ("no-time", None, "physical_store"),
        ],
    )
    report = run(project(tmp_path, sandbox, f"    timezone: {zone}"))
    c = report.counts
    assert (c["read"], c["sent"], c["expired"], c["rejected"]) == (3, 1, 1, 1)
    assert report.not_read_too_old == 1
    assert sent_ids(sandbox) == ["fresh"]


def test_aware_timestamps_and_dates_are_cut_at_the_same_instant(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    tz = ZoneInfo("Europe/Paris")
    write_table(
        tmp_path / "w.duckdb",
        "TIMESTAMPTZ",
        [
            ("inside", datetime.fromtimestamp(CUTOFF_STORE + 60, tz), "physical_store"),
            ("outside", datetime.fromtimestamp(CUTOFF_STORE - 60, tz), "physical_store"),
            ("fresh", datetime.fromtimestamp(NOW - 3600, tz), "physical_store"),
        ],
    )
    report = run(project(tmp_path, sandbox, "    timezone: Asia/Tokyo"))
    assert (report.counts["read"], report.counts["expired"], report.not_read_too_old) == (2, 1, 1)

    # a DATE is a day in the sync's zone: the cutoff's day is read, the day before is not
    cutoff_day = datetime.fromtimestamp(CUTOFF_STORE, ZoneInfo("Asia/Tokyo")).date()
    write_table(
        tmp_path / "w.duckdb",
        "DATE",
        [
            ("day-of", cutoff_day, "physical_store"),
            ("day-before", cutoff_day - timedelta(days=1), "physical_store"),
            ("today", date.fromtimestamp(NOW), "physical_store"),
        ],
    )
    sandbox.reset()
    report = run(project(tmp_path, sandbox, "    timezone: Asia/Tokyo"))
    assert report.not_read_too_old == 1
    assert report.counts["expired"] == 1
    assert "day-before" not in sent_ids(sandbox)


def test_a_sync_whose_events_are_never_physical_store_reads_seven_days_back(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    cutoff = NOW - EVENT_MAX_AGE_SECONDS - READ_MARGIN_SECONDS
    naive = datetime.fromtimestamp(cutoff, UTC).replace(tzinfo=None)
    write_table(
        tmp_path / "w.duckdb",
        "TIMESTAMP",
        [
            ("inside", naive + timedelta(minutes=5), None),
            ("outside", naive - timedelta(minutes=5), None),
        ],
    )
    extra = "    static: {action_source: email}"
    report = run(project(tmp_path, sandbox, extra))
    assert (report.counts["read"], report.counts["expired"], report.not_read_too_old) == (1, 1, 1)


# -- the anti-join --------------------------------------------------------------------------


def fresh_rows(ids: range, at: float = NOW - 3600) -> list[tuple[Any, ...]]:
    naive = datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
    return [(f"o{i}", naive, "physical_store") for i in ids]


def test_a_second_run_reads_only_new_rows_and_counts_the_settled_ones_in_the_warehouse(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(2500)))
    p = project(tmp_path, sandbox)
    first = run(p)
    assert (first.counts["sent"], first.counted_in_warehouse) == (2500, 0)

    add_rows(tmp_path / "w.duckdb", fresh_rows(range(2500, 2530)))
    sandbox.reset()
    lookups: list[list[str]] = []
    real_lookup = Ledger.lookup

    def lookup(self: Ledger, sync: str, identifiers: list[str]) -> Any:
        lookups.append(list(identifiers))
        return real_lookup(self, sync, identifiers)

    monkeypatch.setattr(Ledger, "lookup", lookup)
    second = run(p)
    c = second.counts
    assert (c["read"], c["already"], c["sent"]) == (2530, 2500, 30)
    assert second.counted_in_warehouse == 2500  # read out of the warehouse: 30 rows
    assert sorted(sent_ids(sandbox)) == sorted(f"o{i}" for i in range(2500, 2530))
    assert [len(ids) for ids in lookups] == [30]  # one bulk look-up, for the new rows only


def test_a_settled_set_that_lags_behind_the_ledger_never_sends_a_row_twice(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger stays the source of truth: rows the anti-join does not know about (a
    lagging or missing set read from the ledger, as when the settled copy cannot be used)
    leave the warehouse and are caught by the ledger look-up."""
    from capisync.state import settled_copy

    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(1200)))
    p = project(tmp_path, sandbox)
    run(p)
    sandbox.reset()
    monkeypatch.setattr(settled_copy, "refresh", lambda *a, **k: None)  # no copy: the ledger
    real_settled = Ledger.settled

    def lagging(self: Ledger, sync: str, chunk: int = 100_000) -> Iterator[list[tuple[str, str]]]:
        for part in real_settled(self, sync, chunk):
            yield part[: len(part) // 3]

    monkeypatch.setattr(Ledger, "settled", lagging)
    again = run(p)
    assert sent_ids(sandbox) == []
    assert (again.counts["already"], again.counts["read"]) == (1200, 1200)
    assert again.counted_in_warehouse == 400

    def dropped(self: Ledger, sync: str, chunk: int = 100_000) -> Iterator[list[tuple[str, str]]]:
        return iter(())

    monkeypatch.setattr(Ledger, "settled", dropped)
    assert run(p).counts["already"] == 1200
    assert sent_ids(sandbox) == []


def test_rows_rejected_before_still_leave_the_warehouse_to_be_evaluated_again(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(3)))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("UPDATE t SET currency = 'DOLLARS' WHERE order_id = 'o1'")
    p = project(tmp_path, sandbox)
    assert run(p).counts["rejected"] == 1
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("UPDATE t SET currency = 'USD' WHERE order_id = 'o1'")
    sandbox.reset()
    again = run(p)
    assert (again.counts["retried"], again.counts["sent"], again.counted_in_warehouse) == (1, 1, 2)
    assert sent_ids(sandbox) == ["o1"]


def test_integer_identifiers_are_anti_joined_by_their_ledger_text(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    naive = datetime.fromtimestamp(NOW - 60, UTC).replace(tzinfo=None)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "CREATE TABLE t AS SELECT (9007199254740993 + i)::BIGINT AS order_id, "
            "'Purchase' AS event_name, ?::TIMESTAMP AS event_time, "
            "'physical_store' AS action_source, 'jane@example.com' AS email, "
            "12.5 AS value, 'USD' AS currency FROM range(5) r(i)",
            [naive],
        )
    p = project(tmp_path, sandbox)
    assert run(p).counts["sent"] == 5
    again = run(p)
    assert (again.counted_in_warehouse, again.counts["already"]) == (5, 5)


def test_the_users_duckdb_file_is_not_written(tmp_path: Path, sandbox: SandboxServer) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(10)))
    p = project(tmp_path, sandbox)
    run(p)
    before = (tmp_path / "w.duckdb").read_bytes()
    run(p)
    assert (tmp_path / "w.duckdb").read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir() if f.name.startswith("w.")) == ["w.duckdb"]


# -- pruning --------------------------------------------------------------------------------


def test_rows_settled_longer_ago_than_any_window_are_pruned_and_never_sent_again(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(5)))
    p = project(tmp_path, sandbox)
    run(p)
    SHIFT[0] = PRUNE_AFTER_SECONDS + 3600
    try:
        prune_later(tmp_path, sandbox, p)
    finally:
        SHIFT[0] = 0.0


def prune_later(tmp_path: Path, sandbox: SandboxServer, p: Project) -> None:
    later = NOW + PRUNE_AFTER_SECONDS - 3600  # not yet: every row is kept
    run(p, later)
    ledger = Ledger(p.state_location())
    assert len(ledger.lookup("s", [f"o{i}" for i in range(5)])) == 5
    add_rows(tmp_path / "w.duckdb", fresh_rows(range(5, 7), at=NOW + PRUNE_AFTER_SECONDS))
    sandbox.reset()
    after = run(p, NOW + PRUNE_AFTER_SECONDS + 3600)
    assert sorted(sent_ids(sandbox)) == ["o5", "o6"]
    assert after.counts["already"] == 5  # still in the ledger during the run, pruned after it
    assert sorted(ledger.lookup("s", [f"o{i}" for i in range(7)])) == ["o5", "o6"]
    sandbox.reset()
    last = run(p, NOW + PRUNE_AFTER_SECONDS + 7200)
    assert last.not_read_too_old == 5  # pruned rows are too old to read: never sent again
    assert (last.counts["read"], last.counts["already"], sent_ids(sandbox)) == (2, 2, [])
    ledger.close()


# -- PostgreSQL source: the window pushed into the query --------------------------------------


def pg_project(tmp_path: Path, sandbox: SandboxServer, url: str, zone: str) -> Project:
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{url: "{url}"}}
    model: select * from t
    identifier: order_id
    timezone: {zone}
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
""")
    return load_project(config, env=dict(os.environ))


@pytest.mark.parametrize(
    ("kind", "zone"),
    [("timestamp", "Asia/Tokyo"), ("timestamp", "America/Los_Angeles"), ("timestamptz", "UTC")],
)
def test_a_postgresql_model_is_cut_at_the_window_in_the_syncs_zone(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str, kind: str, zone: str
) -> None:
    tz = ZoneInfo(zone)

    def at(epoch: float) -> datetime:
        aware = datetime.fromtimestamp(epoch, tz)
        return aware if kind == "timestamptz" else aware.replace(tzinfo=None)

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE t (order_id text, event_time {kind}, action_source text, "
            "event_name text DEFAULT 'Purchase', email text DEFAULT 'jane@example.com', "
            "value numeric DEFAULT 12.5, currency text DEFAULT 'USD')"
        )
        conn.execute(
            sa.text("INSERT INTO t (order_id, event_time, action_source) VALUES (:i, :t, :a)"),
            [
                {"i": "inside", "t": at(CUTOFF_STORE + 1800), "a": "physical_store"},
                {"i": "outside", "t": at(CUTOFF_STORE - 1800), "a": "physical_store"},
                {"i": "fresh", "t": at(NOW - 600), "a": "physical_store"},
                {"i": "no-time", "t": None, "a": "physical_store"},
            ],
        )
    engine.dispose()
    report = run(pg_project(tmp_path, sandbox, pg_url, zone))
    c = report.counts
    assert (c["read"], c["sent"], c["expired"], c["rejected"]) == (3, 1, 1, 1)
    assert report.not_read_too_old == 1
    assert sent_ids(sandbox) == ["fresh"]


# -- PostgreSQL source: the write-back table and the anti-join against it ---------------------


def pg_orders(url: str, ids: range) -> None:
    engine = sa.create_engine(url)
    naive = datetime.fromtimestamp(NOW - 3600, UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS t (order_id bigint, event_time timestamp, "
            "action_source text DEFAULT 'physical_store', event_name text DEFAULT 'Purchase', "
            "email text DEFAULT 'jane@example.com', value numeric DEFAULT 12.5, "
            "currency text DEFAULT 'USD')"
        )
        conn.execute(
            sa.text("INSERT INTO t (order_id, event_time) VALUES (:i, :t)"),
            [{"i": 10**15 + i, "t": naive} for i in ids],
        )
    engine.dispose()


def pg_sql(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        result = conn.exec_driver_sql(sql)
        rows = list(result) if result.returns_rows else []
    engine.dispose()
    return rows


def writeback_project(tmp_path: Path, sandbox: SandboxServer, url: str) -> Project:
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{url: "{url}"}}
    model: select * from t
    identifier: order_id
    writeback: {{schema: capisync_wb}}
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
""")
    return load_project(config, env=dict(os.environ))


@pytest.fixture
def wb_url(pg_url: str) -> Iterator[str]:
    yield pg_url
    pg_sql(pg_url, "DROP SCHEMA IF EXISTS capisync_wb CASCADE")


def test_the_write_back_table_logs_each_settled_row_and_only_new_rows_leave_postgresql(
    tmp_path: Path, sandbox: SandboxServer, wb_url: str
) -> None:
    pg_orders(wb_url, range(1500))
    p = writeback_project(tmp_path, sandbox, wb_url)
    first = run(p)
    assert first.counts["sent"] == 1500
    logged = pg_sql(
        wb_url,
        "SELECT state, count(*), count(event_id), count(fbtrace_id), min(run_id) "
        "FROM capisync_wb.capisync_settled WHERE sync = 's' GROUP BY state",
    )
    assert [tuple(r) for r in logged] == [("sent", 1500, 1500, 1500, first.run_id)]

    pg_orders(wb_url, range(1500, 1520))
    sandbox.reset()
    second = run(p)
    assert (second.counts["read"], second.counts["already"], second.counts["sent"]) == (
        1520,
        1500,
        20,
    )
    assert second.counted_in_warehouse == 1500  # 20 rows left the database
    assert sorted(sent_ids(sandbox)) == sorted(str(10**15 + i) for i in range(1500, 1520))


def test_a_lagging_or_dropped_write_back_table_never_sends_a_row_twice(
    tmp_path: Path, sandbox: SandboxServer, wb_url: str
) -> None:
    pg_orders(wb_url, range(1200))
    p = writeback_project(tmp_path, sandbox, wb_url)
    run(p)
    sandbox.reset()
    table = "capisync_wb.capisync_settled"
    pg_sql(wb_url, f"DELETE FROM {table} WHERE right(identifier, 1) IN ('1', '2', '3')")
    lagging = run(p)
    assert sent_ids(sandbox) == [] and lagging.counts["already"] == 1200
    assert lagging.counted_in_warehouse == 840  # 360 rows left the database, found settled
    # ... and were written back as they were met: the next run leaves them all there
    assert pg_sql(wb_url, f"SELECT count(*) FROM {table}")[0][0] == 1200
    assert run(p).counted_in_warehouse == 1200

    pg_sql(wb_url, f"DROP TABLE {table}")
    dropped = run(p)
    assert sent_ids(sandbox) == [] and dropped.counts["already"] == 1200


def test_write_back_rows_of_a_deleted_ledger_are_not_trusted(
    tmp_path: Path, sandbox: SandboxServer, wb_url: str
) -> None:
    """Deleting .capisync starts over on purpose: the rows are sent again, although the
    write-back table still lists them as sent."""
    pg_orders(wb_url, range(50))
    p = writeback_project(tmp_path, sandbox, wb_url)
    run(p)
    for f in (tmp_path / ".capisync").iterdir():
        f.unlink()
    sandbox.reset()
    again = run(p, NOW + 60)  # the new ledger's first run: another identity
    assert (again.counts["sent"], again.counted_in_warehouse) == (50, 0)
    assert len(sent_ids(sandbox)) == 50


def test_write_back_on_a_model_outside_postgresql_is_a_clear_error(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    import sqlite3

    from capisync.errors import ConfigError

    with sqlite3.connect(tmp_path / "w.sqlite") as con:
        con.execute(
            "CREATE TABLE t (order_id text, event_time text, event_name text, "
            "action_source text, email text, value real, currency text)"
        )
    p = writeback_project(tmp_path, sandbox, f"sqlite:///{tmp_path / 'w.sqlite'}")
    with pytest.raises(ConfigError, match=r"syncs\.s\.writeback: .*PostgreSQL"):
        run_sync(p, "s")


# -- ledger writes off the event loop ---------------------------------------------------------


def test_ledger_writes_run_in_one_worker_thread_in_order_while_the_loop_sends(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(4000)))
    p = project(tmp_path, sandbox)
    seen: list[tuple[str, int]] = []
    real = Ledger.checkpoint

    def slow_checkpoint(self: Ledger, *args: Any, **kwargs: Any) -> None:
        counts = kwargs.get("counts") or {}
        seen.append((threading.current_thread().name, int(counts.get("sent", 0))))
        time.sleep(0.05)  # a slow disk: the event loop goes on meanwhile
        real(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "checkpoint", slow_checkpoint)
    sandbox.config.latency_ms = 200
    report = run(p)
    assert report.counts["sent"] == 4000
    assert {name.split("_")[0] for name, _ in seen} == {"capisync-ledger"}
    sent = [n for _, n in seen]
    assert sent == sorted(sent) and sent[-1] == 4000  # in order, the last with every row


def test_settled_rows_duckdb_cannot_hold_fall_back_to_the_ledger(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from capisync.errors import SourceError
    from capisync.sources import antijoin

    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(1500)))
    p = project(tmp_path, sandbox)
    run(p)
    sandbox.reset()

    def out_of_memory(execute: Any, plan: Any) -> None:
        execute("ATTACH ':memory:' AS capisync_plan (READ_WRITE)", None)
        raise SourceError("Out of Memory Error: could not allocate block")

    monkeypatch.setattr(antijoin, "_attach_settled", out_of_memory)
    again = run(p)
    assert (again.counted_in_warehouse, again.counts["already"]) == (0, 1500)
    assert sent_ids(sandbox) == []
