"""End to end: a real DuckDB file, synced over real HTTP to the sandbox on a real socket."""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from capisync.capi import versions
from capisync.checks import check_sync
from capisync.config import Project, load_project
from capisync.demo import (
    DEMO_EXPECTED,
    DEMO_ROWS,
    demo_rows,
    insert_rows,
    new_demo_row,
    write_demo_project,
)
from capisync.sandbox import SandboxServer
from capisync.state import Ledger
from capisync.sync import run_sync

EMAIL_HASH = (
    "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # john_smith@gmail.com
)
US_HASH = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"  # us


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.store.reset()
    return server


def counts_add_up(c: Counter[str]) -> bool:
    """Every row read ends in exactly one state."""
    states = ("already", "baseline", "sent", "rejected", "duplicate", "expired", "pending")
    return c["read"] == sum(c[k] for k in states)


def project_for(config: Path, sandbox: SandboxServer, **env: str) -> Project:
    return load_project(config, env={**os.environ, "CAPISYNC_BASE_URL": sandbox.url, **env})


def duckdb_sync(
    tmp_path: Path, sandbox: SandboxServer, *, model: str = "select * from t", extra: str = ""
) -> Project:
    """A project with one sync `s` over table t of tmp_path/w.duckdb, sending to the sandbox;
    `extra` is more YAML for the sync (a mapping, delivery settings)."""
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: {model}
    identifier: order_id
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
{extra}""")
    return project_for(config, sandbox)


@pytest.fixture
def demo(tmp_path: Path, sandbox: SandboxServer) -> Project:
    return project_for(write_demo_project(tmp_path).config, sandbox)


def test_first_run_sends_valid_rows_rejects_invalid_ones_and_expires_old_ones(
    demo: Project, sandbox: SandboxServer
) -> None:
    report = run_sync(demo, "purchases")
    assert report.status == "completed"
    for key, value in DEMO_EXPECTED.items():
        assert report.counts[key] == value, key
    c = report.counts
    assert c["read"] == c["already"] + c["sent"] + c["rejected"] + c["expired"] + c["pending"]
    received = sandbox.store.events()
    assert len(received) == DEMO_EXPECTED["sent"]
    ids = {r.event["event_id"] for r in received}
    assert "Purchase:ord-10002" in ids and len(ids) == len(received)
    reasons = {r.identifier: {x["code"] for x in r.reasons} for r in report.rejections}
    assert reasons["ord-10005"] == {"no_customer_keys"}
    assert reasons["ord-10017"] == {"purchase_missing_value_or_currency"}
    assert reasons["ord-10029"] == {"website_missing_client_user_agent"}
    assert reasons["ord-10053"] == {"event_time_in_future"}
    assert reasons["ord-10065"] == {"invalid_currency"}
    assert report.reasons["event_time_too_old"] == DEMO_EXPECTED["expired"]
    rejected_ids = set(reasons) | {"ord-10011"}  # ord-10011 is one of the expired rows
    assert not any(r.event["event_id"].split(":")[1] in rejected_ids for r in received)


def test_second_run_sends_nothing_and_a_new_row_is_sent_alone(
    demo: Project, sandbox: SandboxServer
) -> None:
    run_sync(demo, "purchases")
    before = len(sandbox.store.events())
    second = run_sync(demo, "purchases")
    assert (second.counts["sent"], second.counts["already"]) == (0, 279)
    assert second.counts["expired"] == 12 and second.counts["new"] == 0
    assert second.counts["requests"] == 0
    assert len(sandbox.store.events()) == before
    insert_rows(demo.resolve("warehouse.duckdb"), [new_demo_row(DEMO_ROWS, datetime.now(UTC))])
    third = run_sync(demo, "purchases")
    assert third.counts["sent"] == 1 and third.counts["new"] == 1
    newest = sandbox.store.events()[before:]
    assert [e.event["event_id"] for e in newest] == [f"Purchase:ord-{10001 + DEMO_ROWS}"]


def test_hashes_on_the_wire_equal_metas_documented_examples(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-1' AS order_id, 'Purchase' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'physical_store' AS action_source,
            ' John_Smith@gmail.com ' AS email, 'United States' AS country,
            '(650)555-1212' AS phone, 12.5 AS value, 'usd' AS currency""")
    report = run_sync(duckdb_sync(tmp_path, sandbox), "s")
    assert report.counts["sent"] == 1, report
    event = sandbox.store.events()[0].event
    user = event["user_data"]
    assert user["em"] in (EMAIL_HASH, [EMAIL_HASH])
    assert user["country"] in (US_HASH, [US_HASH])
    import hashlib

    phone = hashlib.sha256(b"16505551212").hexdigest()
    assert user["ph"] in (phone, [phone])
    assert event["custom_data"]["value"] == 12.5
    assert event["custom_data"]["currency"].upper() == "USD"
    assert event["event_id"] == "o-1" and event["action_source"] == "physical_store"


def test_a_row_fixed_in_the_warehouse_is_sent_on_the_next_run(
    demo: Project, sandbox: SandboxServer
) -> None:
    run_sync(demo, "purchases")
    with duckdb.connect(str(demo.resolve("warehouse.duckdb"))) as con:
        con.execute("UPDATE orders SET total = 19.99 WHERE order_id = 'ord-10017'")
    report = run_sync(demo, "purchases")
    assert report.counts["sent"] == 1 and report.counts["retried"] == 9
    assert report.counts["rejected"] == 8  # the other eight are still invalid
    assert sandbox.store.events()[-1].event["event_id"] == "Purchase:ord-10017"


def test_dry_run_sends_nothing_and_records_nothing(demo: Project, sandbox: SandboxServer) -> None:
    report = run_sync(demo, "purchases", dry_run=True)
    assert report.status == "dry-run" and report.counts["sent"] == DEMO_EXPECTED["sent"]
    assert sandbox.store.events() == []
    assert run_sync(demo, "purchases").counts["sent"] == DEMO_EXPECTED["sent"]


def test_test_event_code_reaches_meta(demo: Project, sandbox: SandboxServer) -> None:
    run_sync(demo, "purchases", test_event_code="TEST4242")
    assert {e.test_event_code for e in sandbox.store.events()} == {"TEST4242"}


def test_the_ledger_holds_no_raw_customer_data_and_no_token(
    demo: Project, sandbox: SandboxServer
) -> None:
    run_sync(demo, "purchases")
    dump = "\n".join(sqlite3.connect(demo.state_location()).iterdump()).lower()
    for row in demo_rows(datetime.now(UTC))[:50]:
        for column in ("email", "phone", "last_name"):
            value = row[column]
            if isinstance(value, str) and len(value.strip()) > 4:
                assert value.strip().lower() not in dump, column
    assert "sandbox-token" not in dump


def test_skip_existing_records_a_baseline_and_sends_only_later_rows(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = write_demo_project(tmp_path).config
    config.write_text(
        config.read_text().replace(
            "    identifier: order_id", "    identifier: order_id\n    first_run: skip_existing"
        )
    )
    project = project_for(config, sandbox)
    first = run_sync(project, "purchases")
    assert first.counts["sent"] == 0 and first.counts["baseline"] == DEMO_EXPECTED["sent"]
    assert sandbox.store.events() == []
    insert_rows(project.resolve("warehouse.duckdb"), [new_demo_row(DEMO_ROWS, datetime.now(UTC))])
    second = run_sync(project, "purchases")
    assert second.counts["sent"] == 1 and len(sandbox.store.events()) == 1
    assert second.counts["baseline"] == DEMO_EXPECTED["sent"]


def test_expired_token_stops_the_run_and_the_next_run_sends_everything(
    demo: Project, sandbox: SandboxServer
) -> None:
    sandbox.config.token_expired = True
    try:
        failed = run_sync(demo, "purchases")
    finally:
        sandbox.config.token_expired = False
    assert failed.status == "failed" and "token" in (failed.error or "").lower()
    assert failed.counts["sent"] == 0 and failed.counts["pending"] > 0
    assert "sandbox-token" not in (failed.error or "")
    retry = run_sync(demo, "purchases")
    assert retry.status == "completed" and retry.counts["sent"] == DEMO_EXPECTED["sent"]
    assert len(sandbox.store.events()) == DEMO_EXPECTED["sent"]


def test_events_meta_refuses_are_isolated_recorded_and_not_resent_unchanged(
    demo: Project, sandbox: SandboxServer
) -> None:
    refused = {"Purchase:ord-10002", "Purchase:ord-10150", "Purchase:ord-10300"}
    sandbox.config.reject_event_ids = set(refused)
    try:
        first = run_sync(demo, "purchases")
        assert first.status == "completed"
        assert first.counts["sent"] == DEMO_EXPECTED["sent"] - 3
        assert first.counts["rejected"] == DEMO_EXPECTED["rejected"] + 3
        assert first.counts["requests"] <= 1 + 2 * 9 * 3  # bisection, not one request per event
        by_meta = {r.identifier: r.reasons[0] for r in first.rejections if r.by_meta}
        assert set(by_meta) == {"ord-10002", "ord-10150", "ord-10300"}
        assert {(r["meta_code"], r["meta_subcode"]) for r in by_meta.values()} == {(100, 2804019)}
        arrived = {e.event["event_id"] for e in sandbox.store.events()}
        assert not arrived & refused and len(arrived) == DEMO_EXPECTED["sent"] - 3

        requests_before = len(sandbox.store.requests())
        second = run_sync(demo, "purchases")  # nothing changed: no request to Meta at all
        assert second.counts["sent"] == 0 and second.counts["requests"] == 0
        assert second.counts["rejected"] == DEMO_EXPECTED["rejected"] + 3
        assert len(sandbox.store.requests()) == requests_before
    finally:
        sandbox.config.reject_event_ids = set()
    with duckdb.connect(str(demo.resolve("warehouse.duckdb"))) as con:
        con.execute("UPDATE orders SET total = total + 1 WHERE order_id = 'ord-10150'")
    third = run_sync(demo, "purchases")  # the row changed: it is tried again, and goes
    assert third.counts["sent"] == 1
    assert sandbox.store.events()[-1].event["event_id"] == "Purchase:ord-10150"


def test_postgres_model_and_postgres_ledger(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str
) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE leads AS SELECT 'lead-' || g AS lead_id, 'Lead' AS event_name, "
            "now() - interval '2 hours' AS event_time, 'system_generated' AS action_source, "
            "'Person' || g || '@Example.com ' AS email, '+44 20 7946 ' || lpad(g::text, 4, '0') "
            "AS phone FROM generate_series(1, 2500) g"
        )
    engine.dispose()
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
state:
  url: "{pg_url}"
syncs:
  leads:
    source: {{url: "{pg_url}"}}
    model: select * from leads where email like '%@%'
    identifier: lead_id
    destination:
      {{dataset_id: "9", access_token: sandbox-token, base_url: "${{CAPISYNC_BASE_URL}}"}}
""")
    project = project_for(config, sandbox)
    first = run_sync(project, "leads")
    assert (first.status, first.counts["sent"], first.counts["requests"]) == ("completed", 2500, 3)
    assert run_sync(project, "leads").counts["already"] == 2500
    import hashlib

    # requests run concurrently: the sandbox may have stored another batch first
    [event] = [e.event for e in sandbox.store.events() if e.event["event_id"] == "lead-1"]
    assert event["user_data"]["em"] == hashlib.sha256(b"person1@example.com").hexdigest()
    assert event["user_data"]["ph"] == hashlib.sha256(b"442079460001").hexdigest()


def test_a_repeated_identifier_is_counted_as_duplicate_and_never_unsettles_the_first_row(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-' || (CASE WHEN range IN (5, 25) THEN 1
            ELSE range END) AS order_id, range AS n, 'Purchase' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'physical_store' AS action_source,
            'u' || range || '@example.com' AS email, 5.0 AS value, 'EUR' AS currency
            FROM range(30)""")
    project = duckdb_sync(
        tmp_path,
        sandbox,
        model="select * from t order by n",
        extra="    delivery: {batch_size: 10, concurrency: 1}\n",
    )
    first = run_sync(project, "s")
    # o-1 comes three times: rows 1 (sent), 5 (same batch) and 25 (after o-1 was acknowledged)
    assert (first.counts["sent"], first.counts["duplicate"], first.counts["rejected"]) == (28, 2, 0)
    assert first.duplicates == ["o-1", "o-1"]
    assert counts_add_up(first.counts) and first.counts["read"] == 30
    sent_ids = [e.event["event_id"] for e in sandbox.store.events()]
    assert sent_ids.count("o-1") == 1
    second = run_sync(project, "s")  # o-1 stays sent: its repeats are not resent either
    assert second.counts["sent"] == 0 and second.counts["already"] == 30
    assert len(sandbox.store.events()) == 28


def test_duplicates_of_rejected_rows_count_apart_so_runs_and_the_ledger_agree(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # 10 rows rejected (no customer key); 3 of them repeat, one of those twice, across batches;
    # and 2 repeats of a row that is sent. The run's `rejected` is what the ledger holds.
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE TABLE t AS SELECT
            'o-' || (CASE WHEN range >= 40 THEN [0, 1, 2, 2, 20, 20][range - 39] ELSE range END)
              AS order_id,
            range AS n, 'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'physical_store' AS action_source,
            CASE WHEN range % 40 < 10 AND range < 40 THEN NULL
                 WHEN range >= 40 AND range < 44 THEN NULL
                 ELSE 'u' || range || '@example.com' END AS email,
            5.0 AS value, 'EUR' AS currency FROM range(46)""")
    project = duckdb_sync(
        tmp_path,
        sandbox,
        model="select * from t order by n",
        extra="    delivery: {batch_size: 15, concurrency: 1}\n",
    )
    first = run_sync(project, "s")
    c = first.counts
    assert (c["read"], c["sent"], c["rejected"], c["duplicate"]) == (46, 30, 10, 6)
    assert counts_add_up(c)
    db = sqlite3.connect(project.state_location())
    stored = db.execute(
        "select count(*) from capisync_ledger where state = 'rejected' and run_id = ?",
        (first.run_id,),
    ).fetchone()[0]
    runs_row = db.execute(
        "select rejected, duplicate from capisync_runs where id = ?", (first.run_id,)
    ).fetchone()
    assert stored == c["rejected"] == runs_row[0] == 10 and runs_row[1] == 6


def test_a_row_that_trips_a_builder_bug_is_rejected_alone(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from capisync.capi.event import EventBuilder

    real_build = EventBuilder.build

    def build(self: EventBuilder, row: dict[str, object], *, now: int) -> object:
        if row["order_id"] == "o-3":
            raise ValueError("a value no test has thought of yet")
        return real_build(self, row, now=now)

    def build_batch(self: EventBuilder, rows: list[dict[str, object]], *, now: int) -> object:
        return [build(self, row, now=now) for row in rows]

    monkeypatch.setattr(EventBuilder, "build", build)
    monkeypatch.setattr(EventBuilder, "build_batch", build_batch)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-' || range AS order_id, 'Lead' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'system_generated' AS action_source,
            'u' || range || '@example.com' AS email FROM range(6)""")
    report = run_sync(duckdb_sync(tmp_path, sandbox), "s")
    assert report.status == "completed"
    assert (report.counts["sent"], report.counts["rejected"]) == (5, 1)
    assert [r.reasons[0]["code"] for r in report.rejections] == ["internal_error"]
    assert "a value no test" not in report.rejections[0].reasons[0]["message"]


def test_an_integer_beyond_64_bits_is_dropped_with_a_warning_and_the_event_goes(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # a HUGEINT custom property no JSON writer of the request can carry
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-' || range AS order_id, 'Lead' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'system_generated' AS action_source,
            'u' || range || '@example.com' AS email,
            (CASE WHEN range = 2 THEN 2::HUGEINT ** 70 ELSE range END)::HUGEINT AS points
            FROM range(6)""")
    project = duckdb_sync(tmp_path, sandbox, extra="    mapping: {custom_data.points: points}\n")
    report = run_sync(project, "s")
    assert (report.status, report.counts["sent"], report.counts["rejected"]) == ("completed", 6, 0)
    assert report.warnings == Counter({"points_malformed": 1})
    points = {
        e.event["event_id"]: e.event["custom_data"].get("points") for e in sandbox.store.events()
    }
    assert points == {"o-0": 0, "o-1": 1, "o-2": None, "o-3": 3, "o-4": 4, "o-5": 5}


def test_an_event_json_cannot_carry_is_rejected_alone_even_after_meta_refused_it(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should the builder ever let through a value JSON cannot carry, the client sets that
    # event aside, the sync rejects its row alone (internal_error, tried again next run),
    # and a dry run counts it the same way. Here a run after Meta refused that row.
    from capisync.capi.event import EventBuilder

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-' || range AS order_id, 'Lead' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'system_generated' AS action_source,
            'u' || range || '@example.com' AS email FROM range(6)""")
    project = duckdb_sync(tmp_path, sandbox)
    sandbox.config.reject_event_ids = {"o-2"}
    try:
        first = run_sync(project, "s")
    finally:
        sandbox.config.reject_event_ids = set()
    assert (first.counts["sent"], first.counts["rejected"]) == (5, 1)

    real_build_batch = EventBuilder.build_batch

    def build_batch(self: EventBuilder, rows: list[dict[str, object]], *, now: int) -> object:
        outcomes = real_build_batch(self, rows, now=now)
        for outcome in outcomes:
            if outcome.identifier == "o-2":
                outcome.event["custom_data"] = {"points": 2**70}  # type: ignore[union-attr]
        return outcomes

    def build(self: EventBuilder, row: dict[str, object], *, now: int) -> object:
        [outcome] = build_batch(self, [row], now=now)  # type: ignore[misc]
        return outcome

    monkeypatch.setattr(EventBuilder, "build_batch", build_batch)
    monkeypatch.setattr(EventBuilder, "build", build)
    checked = check_sync(project, "s", sample=100, connect=False)  # check counts it alike
    assert (checked.counts["sent"], checked.counts["rejected"]) == (5, 1)
    assert checked.reasons == Counter({"internal_error": 1})
    for dry_run in (True, False):
        report = run_sync(project, "s", dry_run=dry_run)
        assert report.status == ("dry-run" if dry_run else "completed")
        assert (report.counts["already"], report.counts["sent"], report.counts["rejected"]) == (
            5,
            0,
            1,
        )
        [rejection] = report.rejections
        assert rejection.identifier == "o-2" and not rejection.by_meta
        assert [r["code"] for r in rejection.reasons] == ["internal_error"]
    assert sorted(e.event["event_id"] for e in sandbox.store.events()) == [
        "o-0",
        "o-1",
        "o-3",
        "o-4",
        "o-5",
    ]


def test_a_run_rides_out_5xx_answers_and_throttling(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = write_demo_project(tmp_path).config
    config.write_text(config.read_text() + "    delivery: {batch_size: 50, concurrency: 1}\n")
    project = project_for(config, sandbox)
    sandbox.config.error_rate, sandbox.config.seed = 0.4, 7
    sandbox.config.throttle_after, sandbox.config.throttle_window_s = 3, 0.5
    try:
        report = run_sync(project, "purchases")
    finally:
        sandbox.config.error_rate, sandbox.config.throttle_after = 0.0, None
    faults = Counter(r.fault for r in sandbox.store.requests())
    assert faults["error"] > 0 and faults["throttle"] > 0, faults
    assert report.status == "completed" and report.counts["sent"] == DEMO_EXPECTED["sent"]
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == DEMO_EXPECTED["sent"] and set(ids.values()) == {1}


def test_an_exception_in_a_send_task_stops_the_run_and_is_never_left_unread(
    demo: Project, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import logging

    from capisync.meta import MetaClient

    real_send = MetaClient.send
    calls = 0

    async def send(self: MetaClient, events: list[dict[str, object]]) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("a bug in a send task")
        return await real_send(self, events)

    monkeypatch.setattr(MetaClient, "send", send)
    config = demo.path.read_text()
    demo.path.write_text(config + "    delivery: {batch_size: 20, concurrency: 1}\n")
    project = project_for(demo.path, sandbox)
    unread: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: unread.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("asyncio").addHandler(handler)
    try:
        with pytest.raises(RuntimeError, match="a bug in a send task"):
            run_sync(project, "purchases")
        gc.collect()
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
    assert not [m for m in unread if "never retrieved" in m]
    assert calls <= 3  # the batch in flight may land; nothing after it is sent
    [run] = Ledger(project.state_location()).runs("purchases")
    assert run.status == "failed" and run.error is not None
    assert "internal error (RuntimeError)" in run.error and "a bug" not in run.error
    assert run.counts["read"] < DEMO_ROWS
    assert run.counts["read"] == sum(
        run.counts[k] for k in ("already", "baseline", "sent", "rejected", "expired", "pending")
    )


def test_a_test_run_sends_test_events_and_consumes_no_production_row(
    demo: Project, sandbox: SandboxServer
) -> None:
    test = run_sync(demo, "purchases", test_event_code="TEST4242", limit=5)
    assert (test.status, test.counts["sent"], test.test_event_code) == ("completed", 5, "TEST4242")
    assert not test.read_all and test.counts["read"] < DEMO_ROWS  # it stopped at the limit
    assert counts_add_up(test.counts)
    events = sandbox.store.events()
    assert len(events) == 5 and {e.test_event_code for e in events} == {"TEST4242"}
    db = sqlite3.connect(demo.state_location())
    assert db.execute("select count(*) from capisync_ledger").fetchone() == (0,)
    [recorded] = Ledger(demo.state_location()).runs("purchases")
    assert recorded.test_event_code == "TEST4242" and recorded.counts["sent"] == 5

    real = run_sync(demo, "purchases")  # the rows the test run sent go for real, with the rest
    assert real.counts["sent"] == DEMO_EXPECTED["sent"] and real.counts["already"] == 0
    production = [e for e in sandbox.store.events() if e.test_event_code is None]
    assert len(production) == DEMO_EXPECTED["sent"]


def test_a_test_run_never_waits_for_nor_blocks_a_real_run(
    demo: Project, sandbox: SandboxServer
) -> None:
    import subprocess
    import sys

    from capisync.errors import SyncLockedError

    sandbox.config.latency_ms = 3000
    exe = str(Path(sys.executable).parent / "capisync")
    real = subprocess.Popen(  # a real run holds the sync's lock while its batch is in flight
        [exe, "run", "--config", str(demo.path)],
        env={**os.environ, "CAPISYNC_BASE_URL": sandbox.url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not sandbox.store.requests():
            assert time.monotonic() < deadline, "the real run did not start"
            time.sleep(0.05)
        with pytest.raises(SyncLockedError):  # a second real run is refused ...
            run_sync(demo, "purchases")
        test = run_sync(demo, "purchases", test_event_code="T1", limit=3)  # ... a test run is not
        assert test.status == "completed" and test.counts["sent"] == 3
    finally:
        out, err = real.communicate(timeout=60)
        sandbox.config.latency_ms = 0
    assert real.returncode == 0, out + err
    runs = Ledger(demo.state_location()).runs("purchases")
    sent = {(r.status, r.test_event_code, r.counts["sent"]) for r in runs if r.counts["sent"]}
    assert sent == {("completed", None, DEMO_EXPECTED["sent"]), ("completed", "T1", 3)}


def test_limit_stops_reading_once_that_many_events_are_queued(
    demo: Project, sandbox: SandboxServer
) -> None:
    first = run_sync(demo, "purchases", limit=40)
    assert first.counts["sent"] == 40 and not first.read_all
    assert counts_add_up(first.counts) and first.counts["pending"] == 0
    rest = run_sync(demo, "purchases")
    assert rest.counts["already"] == 40
    assert rest.counts["sent"] == DEMO_EXPECTED["sent"] - 40 and rest.read_all


def test_a_model_with_no_rows_says_so(tmp_path: Path, sandbox: SandboxServer) -> None:
    from rich.console import Console

    from capisync.report import print_run

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-1' AS order_id, 'Lead' AS event_name,
            now() AS event_time, 'system_generated' AS action_source, 'a@b.co' AS email""")
    report = run_sync(duckdb_sync(tmp_path, sandbox, model="select * from t where false"), "s")
    assert report.status == "completed" and report.read_all and report.counts["read"] == 0
    console = Console(record=True, width=200)
    print_run(console, report)
    assert "warning: the model returned no rows" in console.export_text()


# -- the Graph API version is judged before a run reads anything -----------------------------


DAY = timedelta(days=1)


def _noon(day: date) -> float:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()


def _version_project(tmp_path: Path, sandbox: SandboxServer, version: str) -> Project:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("""CREATE OR REPLACE TABLE t AS SELECT 'o-1' AS order_id, 'Lead' AS
            event_name, now() AS event_time, 'system_generated' AS action_source,
            'a@b.co' AS email""")
    project = duckdb_sync(tmp_path, sandbox, model="select * from t where false")
    config = project.path
    config.write_text(
        config.read_text().replace('dataset_id: "42"', f'dataset_id: "42", api_version: {version}')
    )
    return project_for(config, sandbox)


def _ended_versions() -> list[versions.ApiVersion]:
    return [v for v in versions.VERSIONS if v.available_until is not None]


@pytest.mark.parametrize(
    ("case", "pick"),
    [
        # the oldest ended version, the day after its last day: expired (even with nothing
        # pending, as a scheduler has it most days)
        ("expired", lambda: (_ended_versions()[-1], _ended_versions()[-1].available_until + DAY)),
        # the newest version, the day before its release: not released yet
        ("unreleased", lambda: (versions.VERSIONS[0], versions.VERSIONS[0].released - DAY)),
    ],
)
def test_an_expired_or_unreleased_api_version_fails_the_run_before_reading(
    tmp_path: Path, sandbox: SandboxServer, case: str, pick: Any
) -> None:
    from capisync.errors import MetaFatalError

    version, day = pick()
    project = _version_project(tmp_path, sandbox, version.name)
    report = run_sync(project, "s", clock=lambda: _noon(day))
    assert report.status == "failed" and report.counts["read"] == 0
    assert isinstance(report.failure, MetaFatalError) and report.failure.exit_code == 5
    assert version.name in str(report.error) and "api_version" in str(report.error)
    assert not sandbox.store.events()
    ledger = Ledger(project.state_location())
    try:
        assert ledger.runs("s")[0].status == "failed"
    finally:
        ledger.close()


def test_an_api_version_expiring_within_90_days_warns_in_the_summary(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from rich.console import Console

    from capisync.report import print_run

    version = _ended_versions()[0]
    assert version.available_until is not None
    project = _version_project(tmp_path, sandbox, version.name)
    for days_left, warned in ((30, True), (89, True), (91, False)):
        day = version.available_until - timedelta(days=days_left)
        report = run_sync(project, "s", clock=lambda day=day: _noon(day))
        assert report.status == "completed"
        console = Console(record=True, width=300)
        print_run(console, report)
        text = console.export_text()
        assert ("warning: api_version" in text) is warned, text
        if warned:
            assert f"in {days_left} days" in text
