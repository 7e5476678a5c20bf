"""`capisync serve` as a process: schedules across two servers on one ledger, SIGTERM during
a run, and broken syncs failing while a good one keeps running."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import duckdb
from tests.integration.serve_process import EXE, ServeProcess, demo_project, ledger_rows, wait_for

from capisync.demo import DEMO_EXPECTED
from capisync.sandbox import SandboxServer

INTERVAL = 2  # seconds: `schedule: every 2s`
TWO_SERVERS_INTERVAL = 4  # wide enough for a run's start to lag its tick on a busy machine


def test_two_servers_on_one_ledger_run_each_tick_once(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = demo_project(tmp_path, sandbox.url, schedule=f"every {TWO_SERVERS_INTERVAL}s")
    with ServeProcess(config) as first, ServeProcess(config) as second:
        wait_for(
            lambda: len(ledger_rows(tmp_path, "select * from capisync_ticks")) >= 4,
            90,
            "four ticks",
        )
        assert first.stop() == 143 and second.stop() == 143
    ticks = ledger_rows(tmp_path, "select tick_at, owner from capisync_ticks order by tick_at")
    runs = ledger_rows(tmp_path, "select started_at, status from capisync_runs order by id")
    # each run started on a tick of its own: runs of one tick would start within a run's
    # length of each other (they queue on the sync's lock), ticks are the interval apart
    starts = [started for started, _ in runs]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap >= TWO_SERVERS_INTERVAL / 2 for gap in gaps), gaps
    assert 2 <= len(runs) <= len(ticks)
    assert all(status in ("completed", "interrupted") for _, status in runs)
    # both processes tried the ticks: the one that lost a tick says so
    assert "another capisync serve on this ledger claimed it" in first.log + second.log
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
            "  expired_token:",  # the sandbox accepts `sandbox-token` only: Meta's code 190
            "    source: {duckdb: warehouse.duckdb}",
            "    model: models/purchases.sql",
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
                and ended("expired_token", "failed") >= 2
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
    assert syncs["expired_token"]["failing"] is True
    assert "token" in syncs["expired_token"]["last_error"].lower()
    assert all(s["next_run"] for s in syncs.values())
    assert "missing_table: run" in serve.log and "unreachable: run" in serve.log
    assert serve.log.count("failed:") >= 6
    assert len(sandbox.store.events()) == DEMO_EXPECTED["sent"]


def test_a_second_signal_quits_at_once_and_the_next_run_closes_the_one_left(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 20_000  # the run's one request to Meta hangs
    config = demo_project(tmp_path, sandbox.url)
    with ServeProcess(config) as serve:
        run_id = serve.start_run("purchases")

        def in_flight() -> bool:
            with serve.client() as api:
                return bool(api.get(f"/api/runs/{run_id}").json()["counts"]["in_flight"])

        wait_for(in_flight, 30, "the batch to be in flight")
        serve.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM: stopping" in serve.log, 10, "the first signal")
        signalled = time.monotonic()
        assert serve.stop(signal.SIGTERM, timeout=10) == 143
        assert time.monotonic() - signalled < 5, "it waited for the run"
    assert "second SIGTERM: quitting at once" in serve.log
    [(status,)] = ledger_rows(tmp_path, f"select status from capisync_runs where id = {run_id}")
    assert status == "running"  # left as it was: no process runs it any more
    sandbox.config.latency_ms = 0
    done = subprocess.run([EXE, "run", "-c", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    [(status,)] = ledger_rows(tmp_path, f"select status from capisync_runs where id = {run_id}")
    assert status == "abandoned"


def test_a_run_held_elsewhere_answers_409_at_once_even_with_on_locked_wait(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 4000
    config = demo_project(tmp_path, sandbox.url)
    config.write_text(config.read_text().replace("serve:\n", "    on_locked: wait\nserve:\n"))
    elsewhere = subprocess.Popen(
        [EXE, "run", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            lambda: ledger_rows(tmp_path, "select id from capisync_runs where status = 'running'"),
            30,
            "capisync run to start",
        )
        with ServeProcess(config) as serve, serve.client() as api:
            asked = time.monotonic()
            answer = api.post("/api/syncs/purchases/runs")
            assert time.monotonic() - asked < 3, "it waited for the lock"
            assert answer.status_code == 409, answer.text
            message = answer.json()["error"]["message"]
            assert "already running elsewhere" in message
            assert "on_locked" not in message  # serve's runs never wait: the CLI's hint is wrong
            serve.stop()
    finally:
        out, err = elsewhere.communicate(timeout=60)
    assert elsewhere.returncode == 0, out + err
