"""Real processes, real sockets: a run killed with SIGKILL loses nothing; two runs never overlap."""

from __future__ import annotations

import json
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
    # `capisync runs` finds the sync's lock free: no process runs it, the run is closed
    history = subprocess.run(
        [EXE, "runs", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert history.returncode == 0 and "abandoned" in history.stdout, history.stdout
    assert "running" not in history.stdout.split("abandoned")[0]

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
    said = []
    for p in (first, second):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        said.append(
            flat(err).count("orders: waiting for the sync's lock (on_locked: wait), held by")
        )
    assert sorted(said) == [0, 1]  # the one that waited said once whom for; the other did not
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == ROWS and set(ids.values()) == {1}


# -- a ledger that cannot be written stops the run -------------------------------------------


def ledger_counts(root: Path) -> dict[str, int]:
    db = sqlite3.connect(root / ".capisync" / "state.db")
    try:
        return dict(db.execute("select state, count(*) from capisync_ledger group by state"))
    finally:
        db.close()


def run_row(root: Path, run_id: int = 1) -> dict[str, object]:
    db = sqlite3.connect(root / ".capisync" / "state.db")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("select * from capisync_runs where id = ?", (run_id,)).fetchone()
        return dict(row)
    finally:
        db.close()


def has_open(pid: int, name: str) -> bool:
    """Whether the process holds a file of that name open (Linux /proc)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd).endswith(name) for fd in fds.iterdir())
    except OSError:  # an fd closed while we looked
        return False


def flat(text: str) -> str:
    """Output with its line wrapping undone."""
    return " ".join(text.split())


def assert_stopped_sending(sandbox: SandboxServer, recorded_sent: int) -> None:
    """A run whose ledger failed sends nothing more: only batches already in flight when the
    first write failed (at most CONCURRENCY + the one being recorded) reached Meta unrecorded."""
    received = len({e.event["event_id"] for e in sandbox.store.events()})
    assert received < ROWS, "the run went on sending every batch"
    assert received - recorded_sent <= (CONCURRENCY + 1) * BATCH, (received, recorded_sent)


def test_another_process_holding_the_ledgers_write_lock_stops_the_run_try_again_later(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from capisync.errors import LedgerUnavailableError
    from capisync.state.ledger import BUSY_TIMEOUT_S

    sandbox.config.latency_ms = 100
    config = make_project(tmp_path, sandbox.url)
    proc = start_run(config)
    wait_for(lambda: len(sandbox.store.events()) >= ROWS // 5)
    # a real second connection takes SQLite's write lock and keeps it past the busy timeout
    holder = sqlite3.connect(tmp_path / ".capisync" / "state.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    time.sleep(BUSY_TIMEOUT_S + 2)
    holder.execute("ROLLBACK")
    holder.close()
    out, err = map(flat, proc.communicate(timeout=120))
    sandbox.config.latency_ms = 0

    assert proc.returncode == LedgerUnavailableError.exit_code, out + err
    assert "Task exception was never retrieved" not in err
    assert "another process held its write lock" in err and "state.db" in err
    assert "failed" in out and "could not be recorded in the ledger" in out  # the summary
    recorded = ledger_counts(tmp_path).get("sent", 0)
    assert_stopped_sending(sandbox, recorded)
    row = run_row(tmp_path)
    assert row["status"] == "failed" and "write lock" in str(row["error"])
    # the columns say what the ledger holds: rows sent but not recorded count as pending
    details = json.loads(str(row["details"]))
    assert row["read"] < ROWS and row["sent"] == recorded and details["unrecorded"] > 0
    assert row["pending"] >= details["unrecorded"]
    assert row["read"] == row["sent"] + row["rejected"] + row["pending"]

    history = subprocess.run(
        [EXE, "runs", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert "could not be recorded in the ledger, so they count as pending" in flat(history.stdout)
    assert "the next run takes them again" in flat(history.stdout)  # none has run yet

    again = subprocess.run(
        [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == ROWS and ledger_counts(tmp_path) == {"sent": ROWS}
    assert sum(n - 1 for n in ids.values()) <= (CONCURRENCY + 1) * BATCH  # resent: unrecorded


def test_a_ledger_file_deleted_mid_run_stops_the_run(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from capisync.errors import LedgerError

    sandbox.config.latency_ms = 100
    config = make_project(tmp_path, sandbox.url)
    proc = start_run(config)
    wait_for(lambda: len(sandbox.store.events()) >= ROWS // 5)
    ledger = tmp_path / ".capisync" / "state.db"
    sent_before = ledger_counts(tmp_path).get("sent", 0)
    ledger.unlink()  # SQLite keeps writing into the unlinked file; the run must notice
    out, err = proc.communicate(timeout=120)
    sandbox.config.latency_ms = 0

    assert proc.returncode == LedgerError.exit_code, out + err
    assert f"the ledger file {ledger} was deleted" in " ".join(err.split())
    assert "could not be recorded as failed either (the same error)" in flat(out)
    assert "()" not in out
    assert_stopped_sending(sandbox, sent_before)


def test_a_full_disk_under_the_ledger_stops_the_run(tmp_path: Path, sandbox: SandboxServer) -> None:
    from capisync.errors import LedgerError

    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(state)], capture_output=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr!r}"
    try:
        sandbox.config.latency_ms = 100
        config = make_project(tmp_path, sandbox.url)
        config.write_text(f"state: {{path: {state}/state.db}}\n" + config.read_text())
        proc = start_run(config)
        wait_for(lambda: len(sandbox.store.events()) >= ROWS // 5)
        filler = state / "filler"
        with open(filler, "wb", buffering=0) as f:  # fill the disk, as a log or a dump would
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        out, err = map(flat, proc.communicate(timeout=120))
        sandbox.config.latency_ms = 0
        assert proc.returncode == LedgerError.exit_code, out + err
        assert "the disk holding it is full" in err and str(state / "state.db") in err
        assert "could not be recorded as failed either (the same error)" in out  # still full
        assert "()" not in out
        filler.unlink()
        db = sqlite3.connect(state / "state.db")
        recorded = db.execute("select count(*) from capisync_ledger").fetchone()[0]
        db.close()
        assert_stopped_sending(sandbox, recorded)
        again = subprocess.run(
            [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stdout + again.stderr
        ids = Counter(e.event["event_id"] for e in sandbox.store.events())
        assert len(ids) == ROWS
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_full_disk_when_the_ledger_is_opened_says_the_disk_is_full(tmp_path: Path) -> None:
    # found by breaking serve: between runs, a full disk made each tick say only "disk I/O
    # error" (SQLite cannot grow the WAL index of a new connection: SQLITE_IOERR_SHMSIZE)
    from capisync.errors import LedgerError
    from capisync.state import Ledger

    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], capture_output=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr!r}"
    try:
        Ledger(str(state / "state.db")).close()  # made while there was room
        with open(state / "filler", "wb", buffering=0) as f:  # then a log fills the disk
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        with pytest.raises(LedgerError) as caught:
            Ledger(str(state / "state.db"))
        message = " ".join(str(caught.value).split())
        assert "the disk holding it is full" in message and str(state / "state.db") in message
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


# -- SIGTERM, as cron wrappers, Airflow, Kubernetes and systemd send it ----------------------


def test_sigterm_lets_batches_in_flight_land_records_the_run_and_exits_143(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 150
    config = make_project(tmp_path, sandbox.url)
    proc = start_run(config)
    wait_for(lambda: len(sandbox.store.events()) >= ROWS // 4)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    sandbox.config.latency_ms = 0

    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert "interrupted" in out and "SIGTERM" in out
    received = len(sandbox.store.events())
    assert received < ROWS
    assert ledger_counts(tmp_path) == {"sent": received}  # every acknowledged batch recorded
    row = run_row(tmp_path)
    assert row["status"] == "interrupted" and row["sent"] == received
    assert row["read"] == row["sent"] + row["pending"] and row["read"] < ROWS
    assert "stopped after reading" in " ".join(
        subprocess.run(
            [EXE, "runs", "--config", str(config)], capture_output=True, text=True, timeout=30
        ).stdout.split()
    )
    again = subprocess.run(
        [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == ROWS and set(ids.values()) == {1}  # nothing lost, nothing doubled


def test_sigterm_while_waiting_for_the_lock_exits_143_at_once_and_records_nothing(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 150
    config = make_project(tmp_path, sandbox.url, on_locked="wait")
    first = start_run(config)
    wait_for(lambda: len(sandbox.store.events()) >= BATCH)
    second = start_run(config)  # queues behind the first, once it has opened the ledger
    wait_for(lambda: has_open(second.pid, "state.db"))
    time.sleep(0.5)
    stopped_at = time.monotonic()
    second.send_signal(signal.SIGTERM)
    out, err = map(flat, second.communicate(timeout=30))
    assert time.monotonic() - stopped_at < 10, "it went on waiting for the lock"
    assert second.returncode == 128 + signal.SIGTERM, out + err
    assert "stopped by SIGTERM while waiting for the sync's lock" in out
    first.communicate(timeout=120)
    sandbox.config.latency_ms = 0
    assert first.returncode == 0
    db = sqlite3.connect(tmp_path / ".capisync" / "state.db")
    assert db.execute("select status from capisync_runs").fetchall() == [("completed",)]


def test_runs_never_closes_a_run_that_is_alive(tmp_path: Path, sandbox: SandboxServer) -> None:
    sandbox.config.latency_ms = 150
    config = make_project(tmp_path, sandbox.url)
    proc = start_run(config)
    wait_for(lambda: len(sandbox.store.events()) >= BATCH * 2)
    history = subprocess.run(
        [EXE, "runs", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    out, err = proc.communicate(timeout=120)
    sandbox.config.latency_ms = 0
    assert "running" in history.stdout and "abandoned" not in history.stdout
    assert proc.returncode == 0, out + err
    assert run_row(tmp_path)["status"] == "completed"


# -- a signal cancels the warehouse query in flight -----------------------------------------

SLOW_QUERY_SECONDS = 60  # what the slow models below would take if the signal waited for them


def slow_project(root: Path, base_url: str, source: str, model: str) -> Path:
    config = root / "capisync.yml"
    config.write_text(f"""
syncs:
  slow:
    source: {source}
    model: "{model}"
    identifier: order_id
    destination: {{dataset_id: "77", access_token: sandbox-token, base_url: "{base_url}"}}
""")
    return config


def assert_interrupted_at_once(
    root: Path, proc: subprocess.Popen[str], signum: int, signalled_at: float
) -> None:
    try:
        out, err = proc.communicate(timeout=SLOW_QUERY_SECONDS)
    finally:
        proc.kill()
    took = time.monotonic() - signalled_at
    assert proc.returncode == 128 + signum, out + err
    assert took < 10, f"the run outlived the signal by {took:.1f} s: the query was waited for"
    row = run_row(root)
    assert row["status"] == "interrupted" and row["read"] == 0, row
    assert "failed" not in flat(out)  # a cancelled query is the stop asked for, not a failure


def test_sigterm_cancels_a_slow_postgresql_query_at_once(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str
) -> None:
    import psycopg

    model = (
        "select 'ord-1' as order_id, 'Purchase' as event_name, now() - interval '1 hour' "
        "as event_time, 'physical_store' as action_source, 'a@example.com' as email, "
        f"pg_sleep({SLOW_QUERY_SECONDS})::text as slept"
    )
    app = f"capisync-test-{tmp_path.name}"  # this test's session, not another one's
    url = f"{pg_url}&application_name={app}"
    config = slow_project(tmp_path, sandbox.url, f"{{url: '{url}'}}", model)
    proc = start_run(config)

    def sleeping() -> bool:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test") as conn:
            q = (
                "select count(*) from pg_stat_activity where state = 'active' "
                "and wait_event = 'PgSleep' and application_name = %s"
            )
            found = conn.execute(q, (app,)).fetchone()
            return bool(found and found[0])

    wait_for(lambda: sleeping() or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    assert_interrupted_at_once(tmp_path, proc, signal.SIGTERM, time.monotonic())
    assert not sleeping()  # cancelled in the server too, not only abandoned by the client


def test_ctrl_c_cancels_a_slow_duckdb_query_at_once(tmp_path: Path, sandbox: SandboxServer) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table seed as select 1 as n")
    # a cross join of 1e11 pairs: minutes of CPU, in the model's copy into the spool
    model = (
        "select 'ord-1' as order_id, 'Purchase' as event_name, now() - interval 1 hour "
        "as event_time, 'physical_store' as action_source, 'a@example.com' as email, "
        "(select sum(a.range * b.range) from range(1000000) a, range(100000) b) as slow "
        "from seed"
    )
    config = slow_project(tmp_path, sandbox.url, "{duckdb: w.duckdb}", model)
    proc = start_run(config)
    wait_for(lambda: (tmp_path / ".capisync" / "state.db").exists())
    wait_for(lambda: _has_run(tmp_path))
    time.sleep(2.0)  # well into the copy
    proc.send_signal(signal.SIGINT)
    assert_interrupted_at_once(tmp_path, proc, signal.SIGINT, time.monotonic())


def _has_run(root: Path) -> bool:
    try:
        return bool(run_row(root))
    except (sqlite3.Error, TypeError):
        return False


def test_runs_shows_the_rows_of_a_live_run_in_flight_so_its_columns_add_up(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 300
    config = make_project(tmp_path, sandbox.url)
    proc = start_run(config)
    try:
        wait_for(lambda: len(sandbox.store.events()) >= ROWS // 4)
        history = subprocess.run(
            [EXE, "runs", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "COLUMNS": "200"},
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        sandbox.config.latency_ms = 0
    line = next(ln for ln in history.stdout.splitlines() if ln.split()[:1] == ["1"])
    read, already, baseline, sent, rejected, dup, expired, pending = (
        int(c.replace(",", "")) for c in line.split()[-8:]
    )
    assert "running" in line and read > sent and pending > 0, history.stdout
    assert read == already + baseline + sent + rejected + dup + expired + pending
    assert f"pending includes {pending:,} rows in flight" in flat(history.stdout)


def test_a_ledger_on_a_read_only_file_system_says_so_not_chmod(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(state)], capture_output=True)
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr!r}"
    try:
        config = make_project(tmp_path, sandbox.url)
        config.write_text(f"state: {{path: {state}/state.db}}\n" + config.read_text())
        first = subprocess.run(
            [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=120
        )
        assert first.returncode == 0, first.stdout + first.stderr
        # the volume is remounted read-only (EROFS): every file is still writable by mode
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
        again = subprocess.run(
            [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=120
        )
        err = flat(again.stderr)
        assert again.returncode == 3, again.stdout + again.stderr
        assert f"the file system holding {state} is mounted read-only" in err, err
        assert "chmod" not in err and "another user" not in err
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)
