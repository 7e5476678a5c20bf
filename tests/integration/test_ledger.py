"""The ledger on a real SQLite file and on a real PostgreSQL server: same behaviour on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from capisync.state import Ledger, Rejected


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        return Ledger(str(tmp_path / ".capisync" / "state.db"))
    return Ledger(request.getfixturevalue("pg_url"))


def test_sent_rows_are_found_and_unknown_rows_are_not(ledger: Ledger) -> None:
    run = ledger.start_run("s", dry_run=False, now=100.0)
    ledger.mark_sent("s", run, [("a", "Purchase:a"), ("b", "Purchase:b")], "trace-1", 101.0)
    found = ledger.lookup("s", ["a", "b", "c"])
    assert {k: v.state for k, v in found.items()} == {"a": "sent", "b": "sent"}
    assert ledger.lookup("other-sync", ["a"]) == {}


def test_lookup_handles_more_identifiers_than_one_query_binds(ledger: Ledger) -> None:
    run = ledger.start_run("s", dry_run=False, now=1.0)
    ids = [f"id-{i}" for i in range(2500)]
    ledger.mark_sent("s", run, [(i, i) for i in ids], None, 2.0)
    assert len(ledger.lookup("s", ids + ["missing"])) == 2500


def test_a_rejected_row_later_sent_becomes_sent(ledger: Ledger) -> None:
    run = ledger.start_run("s", dry_run=False, now=1.0)
    reason = {"code": "no_customer_keys", "key": None, "message": "add an email"}
    ledger.mark_rejected("s", run, [Rejected("x", [reason], "f" * 64, by_meta=True)], 2.0)
    entry = ledger.lookup("s", ["x"])["x"]
    assert (entry.state, entry.fingerprint, entry.by_meta, entry.reasons) == (
        "rejected",
        "f" * 64,
        True,
        [reason],
    )
    assert ledger.rejections("s") == [("x", 2.0, [reason])]
    ledger.mark_sent("s", run, [("x", "e")], "t", 3.0)
    assert ledger.lookup("s", ["x"])["x"].state == "sent"
    assert ledger.rejections("s") == []


def test_runs_are_recorded_and_a_run_left_running_is_closed_as_abandoned(ledger: Ledger) -> None:
    first = ledger.start_run("s", dry_run=False, now=10.0)  # never finished: the process died
    second = ledger.start_run("s", dry_run=False, now=20.0)
    ledger.finish_run(
        second,
        status="completed",
        counts={"read": 5, "sent": 4, "rejected": 1},
        now=21.0,
        details={"reasons": {"x": 1}},
    )
    runs = ledger.runs("s")
    assert [r.id for r in runs] == [second, first]
    assert runs[0].counts["read"] == 5 and runs[0].counts["sent"] == 4
    assert runs[0].details == {"reasons": {"x": 1}}
    # it recorded nothing: as far as anyone knows it ended where it started, not when found
    assert runs[1].status == "abandoned" and runs[1].ended_at == 10.0
    assert ledger.has_history("s") and not ledger.has_history("t")


def test_an_abandoned_run_keeps_the_counts_its_checkpoints_recorded(ledger: Ledger) -> None:
    # a run killed after two checkpoints: 300 rows read, 120 sent, 5 rejected, 2 expired,
    # 3 duplicates; the rest (in flight or queued at the kill) were never recorded
    dead = ledger.start_run("s", dry_run=False, now=1.0)
    counts = {"read": 300, "new": 300, "sent": 120, "rejected": 5, "expired": 2, "duplicate": 3}
    reason = {"code": "no_customer_keys", "key": None, "message": "add an email"}
    ledger.checkpoint(
        "s",
        dead,
        2.0,
        sent=[(f"o-{i}", f"o-{i}", "trace") for i in range(120)],
        rejected=[Rejected(f"r-{i}", [reason]) for i in range(5)],
        marked={"expired": ["x-1", "x-2"]},
        counts=counts,
    )
    live = ledger.runs("s")[0]  # what `capisync runs` shows while it works, or after a kill -9
    assert (live.status, live.counts["read"], live.counts["sent"]) == ("running", 300, 120)

    ledger.start_run("s", dry_run=False, now=50.0)  # the next run takes the lock and closes it
    closed = next(r for r in ledger.runs("s") if r.id == dead)
    # its duration runs to its last checkpoint (2.0), not to when the next run found it dead
    assert closed.status == "abandoned" and closed.ended_at == 2.0
    assert "the next run sends them" in str(closed.error)  # no next run has sent them yet
    c = closed.counts
    assert (c["read"], c["sent"], c["rejected"], c["expired"], c["duplicate"]) == (
        300,
        120,
        5,
        2,
        3,
    )
    assert c["pending"] == 300 - 120 - 5 - 2 - 3  # read, never recorded: the next run sends them
    assert "stopped before the run finished" in (closed.error or "")


def test_a_run_from_before_progress_was_flushed_is_closed_with_the_ledgers_rows(
    ledger: Ledger,
) -> None:
    # its runs row says read 0 / sent 0, as older versions left it; the ledger knows better
    dead = ledger.start_run("s", dry_run=False, now=1.0)
    ledger.mark_sent("s", dead, [(f"o-{i}", f"o-{i}") for i in range(80)], "t", 2.0)
    ledger.mark("s", dead, ["old-1"], "expired", 2.0)
    ledger.start_run("s", dry_run=False, now=3.0)
    c = next(r for r in ledger.runs("s") if r.id == dead).counts
    assert (c["read"], c["sent"], c["expired"], c["pending"]) == (81, 80, 1, 0)


def test_test_runs_and_real_runs_never_close_each_other(ledger: Ledger) -> None:
    real = ledger.start_run("s", dry_run=False, now=1.0)
    test = ledger.start_run("s", dry_run=False, now=2.0, test_event_code="TEST1")
    ledger.start_run("s", dry_run=False, now=3.0, test_event_code="TEST1")  # closes `test` only
    ledger.start_run("s", dry_run=False, now=4.0)  # closes `real` only
    status = {r.id: (r.status, r.test_event_code) for r in ledger.runs("s")}
    assert status[real] == ("abandoned", None) and status[test] == ("abandoned", "TEST1")
    # a test run settles nothing: after test runs alone, a first run is still a first run
    other = ledger.start_run("fresh", dry_run=False, now=5.0, test_event_code="T")
    ledger.finish_run(other, status="completed", counts={"sent": 3}, now=6.0)
    assert not ledger.has_history("fresh")


def test_nothing_but_identifiers_codes_and_hashes_is_stored(ledger: Ledger, tmp_path: Path) -> None:
    run = ledger.start_run("s", dry_run=False, now=1.0)
    ledger.mark_sent("s", run, [("order-1", "Purchase:order-1")], "trace", 2.0)
    with ledger.engine.connect() as conn:
        import sqlalchemy as sa

        columns = sa.inspect(conn).get_columns("capisync_ledger")
    assert {c["name"] for c in columns} == {
        "sync",
        "identifier",
        "state",
        "event_id",
        "run_id",
        "updated_at",
        "fbtrace_id",
        "fingerprint",
        "by_meta",
        "reasons",
    }


def test_unreachable_postgres_ledger_is_a_clear_error() -> None:
    from capisync.errors import LedgerError

    with pytest.raises(
        LedgerError,
        match=r"cannot open the ledger at postgresql\+psycopg://u:\*\*\*@127.0.0.1:5999",
    ):
        Ledger("postgresql+psycopg://u:secret@127.0.0.1:5999/x")


def test_a_ledger_made_by_an_earlier_version_gains_the_new_columns_and_keeps_its_runs(
    ledger: Ledger,
) -> None:
    import sqlalchemy as sa

    run = ledger.start_run("s", dry_run=False, now=1.0)
    ledger.finish_run(run, status="completed", counts={"read": 7, "sent": 7}, now=2.0)
    with ledger.engine.begin() as conn:  # the runs table as capisync 0.1 made it
        conn.exec_driver_sql("ALTER TABLE capisync_runs DROP COLUMN test_event_code")
        conn.exec_driver_sql("ALTER TABLE capisync_runs DROP COLUMN duplicate")
    ledger.close()
    reopened = Ledger(ledger.location)
    columns = {c["name"] for c in sa.inspect(reopened.engine).get_columns("capisync_runs")}
    assert {"test_event_code", "duplicate"} <= columns
    [old] = reopened.runs("s")
    assert (old.status, old.counts["sent"], old.counts["duplicate"], old.test_event_code) == (
        "completed",
        7,
        0,
        None,
    )
    reopened.start_run("s", dry_run=False, now=3.0, test_event_code="T")
    reopened.close()


def _write_as_nobody(path: Path) -> str:
    """Open the ledger and start a run in a child process that is not root (root writes any
    file), as a cron job of another user would; returns 'ok' or the LedgerError's message."""
    import os

    from capisync.errors import LedgerError

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, try, report through the pipe, never return
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            Ledger(str(path)).start_run("s", dry_run=False, now=2.0)
            message = "ok"
        except LedgerError as exc:
            message = str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
            message = f"unexpected {type(exc).__name__}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return " ".join(pipe.read().decode().split())


def test_a_read_only_ledger_names_each_file_to_fix_including_left_over_wal_files() -> None:
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    assert os.getuid() == 0, "this test drops to another user and needs root"
    folder = Path(tempfile.mkdtemp(prefix="capisync-ro-"))  # outside pytest's 0700 tmp dir
    try:
        os.chown(folder, 65534, 65534)  # the folder is the cron user's
        path = folder / "state.db"
        Ledger(str(path)).start_run("s", dry_run=False, now=1.0)
        # a run as root (sudo) that was killed leaves state.db, -wal and -shm owned by root
        crash = (
            f"import os, sqlite3; c = sqlite3.connect({str(path)!r}); "
            "c.execute('pragma journal_mode=wal'); "
            "c.execute('update capisync_runs set status = status'); c.commit(); "
            "os.kill(os.getpid(), 9)"
        )
        subprocess.run([sys.executable, "-c", crash], check=False)
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()

        first = _write_as_nobody(path)
        assert f"{path}, {wal}, {shm} are read-only for this user" in first, first
        os.chown(path, 65534, 65534)  # state.db is fixed; the left-over -wal and -shm are not
        second = _write_as_nobody(path)
        assert f"{wal}, {shm} are read-only for this user" in second, second
        assert f"{path}," not in second
        os.chown(wal, 65534, 65534)
        os.chown(shm, 65534, 65534)
        assert _write_as_nobody(path) == "ok"
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("as_url", [False, True])
def test_a_deleted_sqlite_ledger_is_noticed_whether_given_as_a_path_or_a_url(
    tmp_path: Path, as_url: bool
) -> None:
    from capisync.errors import LedgerError

    file = tmp_path / "state.db"
    ledger = Ledger(f"sqlite:///{file}" if as_url else str(file))
    try:
        ledger.start_run("s", dry_run=False, now=1.0)
        file.unlink()
        with pytest.raises(LedgerError, match="was deleted while this run was using it"):
            ledger.start_run("s", dry_run=False, now=2.0)
    finally:
        ledger.close()
