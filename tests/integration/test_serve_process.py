"""`capisync serve` as a process: schedules across two servers on one ledger, SIGTERM during
a run, and broken syncs failing while a good one keeps running."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import duckdb
from tests.integration.serve_process import ServeProcess, demo_project, ledger_rows, wait_for

from capisync.demo import DEMO_EXPECTED
from capisync.sandbox import SandboxServer

INTERVAL = 2  # seconds: `schedule: every 2s`


def test_two_servers_on_one_ledger_run_each_tick_once(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = demo_project(tmp_path, sandbox.url, schedule=f"every {INTERVAL}s")
    with ServeProcess(config) as first, ServeProcess(config) as second:
        wait_for(
            lambda: len(ledger_rows(tmp_path, "select * from capisync_ticks")) >= 4,
            60,
            "four ticks",
        )
        assert first.stop() == 143 and second.stop() == 143
    ticks = ledger_rows(tmp_path, "select tick_at, owner from capisync_ticks")
    runs = ledger_rows(tmp_path, "select started_at, status from capisync_runs")
    # every run started on its own tick: no tick ran twice, in either process
    per_tick = Counter(int(started // INTERVAL) * INTERVAL for started, _ in runs)
    assert set(per_tick.values()) == {1}, per_tick
    assert len(ticks) - 1 <= len(runs) <= len(ticks)  # the last claim may meet the stop
    assert all(status in ("completed", "interrupted") for _, status in runs)
    # both processes tried each tick: the one that lost it says so
    losers = (first.log + second.log).count("another capisync serve on this ledger claimed it")
    assert losers >= len(ticks) - 2
    events = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(events) == DEMO_EXPECTED["sent"] and set(events.values()) == {1}


ROWS, BATCH = 3000, 100


def big_project(root: Path, base_url: str) -> Path:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute(f"""CREATE TABLE orders AS SELECT 'ord-' || range AS order_id,
            'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'physical_store' AS action_source, 'user' || range || '@example.com' AS email,
            10.0 + range AS value, 'USD' AS currency FROM range({ROWS})""")
    config = root / "capisync.yml"
    config.write_text(f"""
syncs:
  orders:
    source: {{duckdb: w.duckdb}}
    model: select * from orders order by order_id
    identifier: order_id
    destination: {{dataset_id: "77", access_token: sandbox-token, base_url: "{base_url}"}}
    delivery: {{batch_size: {BATCH}, concurrency: 2}}
""")
    return config


def test_sigterm_during_a_run_lets_batches_land_exits_143_and_the_next_run_sends_the_rest(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 150
    config = big_project(tmp_path, sandbox.url)
    with ServeProcess(config) as serve:
        run_id = serve.start_run("orders")
        wait_for(lambda: len(sandbox.store.events()) >= ROWS // 4, 60, "a quarter sent")
        assert serve.stop(signal.SIGTERM) == 143, serve.log
    received = len(sandbox.store.events())
    assert received < ROWS, "the run ended before the signal"
    [(status, read, sent, pending)] = ledger_rows(
        tmp_path, f"select status, read, sent, pending from capisync_runs where id = {run_id}"
    )
    assert status == "interrupted" and sent == received and read == sent + pending
    [(recorded,)] = ledger_rows(tmp_path, "select count(*) from capisync_ledger")
    assert recorded == received  # every acknowledged batch was checkpointed
    assert f"orders: run {run_id} interrupted (SIGTERM)" in serve.log

    sandbox.config.latency_ms = 0
    with ServeProcess(config) as again:
        done = again.wait_run(again.start_run("orders"))
        assert done["status"] == "completed" and done["counts"]["sent"] == ROWS - received
        again.stop()
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == ROWS and set(ids.values()) == {1}  # nothing lost, nothing doubled


def test_broken_syncs_fail_on_their_own_while_the_good_one_keeps_running(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = demo_project(tmp_path, sandbox.url, schedule=f"every {INTERVAL}s")
    destination = f'{{dataset_id: "1234567890", access_token: t, base_url: "{sandbox.url}"}}'
    broken = "\n".join(
        [
            "  missing_table:",
            "    source: {duckdb: warehouse.duckdb}",
            "    model: select * from no_such_orders",
            "    identifier: order_id",
            f"    schedule: every {INTERVAL}s",
            f"    destination: {destination}",
            "  unreachable:",
            "    source: {url: 'postgresql+psycopg://capisync@127.0.0.1:1/none'}",
            "    model: select 1 as order_id",
            "    identifier: order_id",
            f"    schedule: every {INTERVAL}s",
            f"    destination: {destination}",
            "",
        ]
    )
    text = config.read_text().replace("serve:\n", broken + "serve:\n")
    config.write_text(text)

    def ended(sync: str, status: str) -> int:
        q = f"select count(*) from capisync_runs where sync = '{sync}' and status = '{status}'"
        rows = ledger_rows(tmp_path, q)
        return int(rows[0][0]) if rows else 0

    with ServeProcess(config) as serve:
        wait_for(
            lambda: (
                ended("purchases", "completed") >= 3
                and ended("missing_table", "failed") >= 2
                and ended("unreachable", "failed") >= 2
            ),
            90,
            "three good runs and two failures of each broken sync",
        )
        with serve.client() as api:
            syncs = {s["name"]: s for s in api.get("/api/syncs").json()["syncs"]}
        assert serve.stop() == 143
    assert syncs["purchases"]["failing"] is False and syncs["purchases"]["last_error"] is None
    assert syncs["missing_table"]["failing"] is True
    assert "no_such_orders" in syncs["missing_table"]["last_error"]
    assert syncs["unreachable"]["failing"] is True
    assert "127.0.0.1" in syncs["unreachable"]["last_error"]
    assert all(s["next_run"] for s in syncs.values())
    assert "missing_table: run" in serve.log and "unreachable: run" in serve.log
    assert serve.log.count("failed:") >= 4
    assert len(sandbox.store.events()) == DEMO_EXPECTED["sent"]
