"""Real processes, real sockets: a run killed with SIGKILL loses nothing; two runs never overlap."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from capisync.sandbox import SandboxServer

ROWS = 4000
BATCH = 100
CONCURRENCY = 2
EXE = str(Path(sys.executable).parent / "capisync")


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def make_project(root: Path, base_url: str, *, on_locked: str = "fail") -> Path:
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
    on_locked: {on_locked}
    destination: {{dataset_id: "77", access_token: sandbox-token, base_url: "{base_url}"}}
    delivery: {{batch_size: {BATCH}, concurrency: {CONCURRENCY}}}
""")
    return config


def start_run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EXE, "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_run_killed_mid_way_loses_nothing_and_resends_only_in_flight_batches(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 150
    config = make_project(tmp_path, sandbox.url)
    proc = start_run(config)
    wait_for(lambda: len(sandbox.store.events()) >= ROWS // 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    received_before = len(sandbox.store.events())
    assert received_before < ROWS, "the run finished before it could be killed"
    db = sqlite3.connect(tmp_path / ".capisync" / "state.db")
    # what `capisync runs` shows after the kill: the progress of its last checkpoint, which
    # is exactly what the ledger holds for it (both are written in one transaction)
    [(status, read, sent)] = db.execute("select status, read, sent from capisync_runs").fetchall()
    recorded = db.execute("select count(*) from capisync_ledger where state = 'sent'").fetchone()
    assert status == "running" and sent == recorded[0] > 0 and read >= sent

    sandbox.config.latency_ms = 0
    done = subprocess.run(
        [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr

    events = [e.event for e in sandbox.store.events()]
    ids = Counter(e["event_id"] for e in events)
    assert set(ids) == {f"ord-{i}" for i in range(ROWS)}, "a row was lost"
    duplicates = {k: n for k, n in ids.items() if n > 1}
    # only the batches in flight at the kill (at most CONCURRENCY of them) are sent twice,
    # and a resent event is the same event: same event_id, same payload
    assert len(duplicates) <= CONCURRENCY * BATCH
    assert all(n == 2 for n in duplicates.values())
    for key in duplicates:
        copies = [e for e in events if e["event_id"] == key]
        assert copies[0] == copies[1]
    assert sandbox.store.dedup_report()["duplicates"] == len(duplicates)

    states = dict(db.execute("select state, count(*) from capisync_ledger group by state"))
    assert states == {"sent": ROWS}
    runs = db.execute("select status, read, sent, pending from capisync_runs order by id")
    (killed, *_), (done_status, done_read, done_sent, _) = runs.fetchall()
    # the next run closed the killed one with the ledger's counts, read = sent + pending
    killed_row = db.execute("select read, sent, pending from capisync_runs where id = 1")
    k_read, k_sent, k_pending = killed_row.fetchone()
    assert killed == "abandoned" and k_sent == sent and k_read == k_sent + k_pending
    assert done_status == "completed" and done_read == ROWS and done_sent == ROWS - k_sent
    print(
        f"\nkill test: {received_before} events received before SIGKILL, "
        f"{len(events)} in all, {len(duplicates)} resent (in flight at the kill)"
    )


def test_two_runs_started_at_once_send_each_row_once(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 50
    config = make_project(tmp_path, sandbox.url, on_locked="fail")
    first, second = start_run(config), start_run(config)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 4], outs
    assert "already running" in "".join(o[1] for o in outs)
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == ROWS and set(ids.values()) == {1}


def test_a_waiting_run_queues_behind_the_first_and_sends_nothing_twice(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 50
    config = make_project(tmp_path, sandbox.url, on_locked="wait")
    first, second = start_run(config), start_run(config)
    for p in (first, second):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == ROWS and set(ids.values()) == {1}
