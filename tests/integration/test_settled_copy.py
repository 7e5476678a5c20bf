"""The settled copy (state/settled_copy.py): a DuckDB model's anti-join reads the settled
identifiers from a DuckDB file capisync keeps between runs, refreshed with only the rows of
runs it has not seen; the ledger stays the source of truth through crashes, a deleted or
restored ledger, and two syncs sharing one ledger (real DuckDB files, real runs against the
sandbox)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.integration.test_read_plan import (
    NOW,
    add_rows,
    fresh_rows,
    project,
    run,
    sent_ids,
    write_table,
)

from capisync.config import Project, load_project
from capisync.sandbox import SandboxServer
from capisync.state import Ledger, settled_copy
from capisync.sync import run_sync


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def copies(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / ".capisync" / "state-settled").glob("*.duckdb"))


def copied_rows(path: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT identifier, state FROM settled ORDER BY 1").fetchall()


def taken_from_ledger(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows each settled_after() call streamed out of the ledger, in call order; a full
    read of the settled set (Ledger.settled) fails the test."""
    taken: list[int] = []
    real = Ledger.settled_after

    def counting(self: Ledger, *args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        taken.append(0)
        for part in real(self, *args, **kwargs):
            taken[-1] += len(part)
            yield part

    def full_read(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the run read every settled row out of the ledger")

    monkeypatch.setattr(Ledger, "settled_after", counting)
    monkeypatch.setattr(Ledger, "settled", full_read)
    return taken


def test_each_run_copies_only_the_rows_settled_since_the_copy_was_refreshed(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(2500)))
    p = project(tmp_path, sandbox)
    taken = taken_from_ledger(monkeypatch)
    assert run(p).counts["sent"] == 2500
    assert taken == [2500]  # after the run: its own rows (before it, the ledger had none)
    (copy,) = copies(tmp_path)
    assert len(copied_rows(copy)) == 2500

    add_rows(tmp_path / "w.duckdb", fresh_rows(range(2500, 2530)))
    sandbox.reset()
    taken.clear()
    second = run(p)
    assert (second.counts["sent"], second.counted_in_warehouse) == (30, 2500)
    assert taken == [30]  # nothing new before the run; its own 30 rows after it
    assert len(copied_rows(copy)) == 2530
    assert sorted(sent_ids(sandbox)) == sorted(f"o{i}" for i in range(2500, 2530))


def test_a_crash_while_the_copy_is_refreshed_leaves_it_as_it_was_and_sends_nothing_twice(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(1200)))
    p = project(tmp_path, sandbox)
    run(p)
    add_rows(tmp_path / "w.duckdb", fresh_rows(range(1200, 1230)))
    sandbox.reset()

    # the process dies after the ledger recorded the 30 new rows, in the middle of copying
    # them: after the first chunk went into the copy's transaction
    real = Ledger.settled_after

    def dying(self: Ledger, *args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        parts = real(self, *args, **kwargs)
        yield next(parts)
        raise SystemExit("killed")

    monkeypatch.setattr(settled_copy, "CHUNK", 10)
    monkeypatch.setattr(Ledger, "settled_after", dying)
    with pytest.raises(SystemExit):
        run_sync(p, "s", clock=lambda: NOW)
    assert len(sent_ids(sandbox)) == 30
    (copy,) = copies(tmp_path)
    assert len(copied_rows(copy)) == 1200  # the copy is as the first run left it
    monkeypatch.setattr(Ledger, "settled_after", real)

    sandbox.reset()
    again = run(p)  # catches up before reading: the 30 rows stay in the warehouse
    assert (again.counts["already"], again.counted_in_warehouse, sent_ids(sandbox)) == (
        1230,
        1230,
        [],
    )


def test_rows_missing_from_the_copy_leave_the_warehouse_and_the_ledger_catches_them(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(900)))
    p = project(tmp_path, sandbox)
    run(p)
    (copy,) = copies(tmp_path)
    with duckdb.connect(str(copy)) as con:  # a copy that lags behind its own through_run
        con.execute("DELETE FROM settled WHERE identifier LIKE '%1' OR identifier LIKE '%2'")
    sandbox.reset()
    again = run(p)
    assert sent_ids(sandbox) == []
    assert (again.counts["already"], again.counted_in_warehouse) == (900, 720)


def test_a_deleted_ledger_starts_over_although_its_copy_is_left(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Deleting the ledger file (not its folder) starts over on purpose: the copy the old
    ledger left must not hide a row, even at the same clock."""
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(50)))
    p = project(tmp_path, sandbox)
    run(p)
    for f in (tmp_path / ".capisync").glob("state.db*"):
        f.unlink()
    assert len(copies(tmp_path)) == 1
    sandbox.reset()
    again = run(p)
    assert (again.counts["sent"], again.counted_in_warehouse) == (50, 0)
    (copy,) = copies(tmp_path)
    assert len(copied_rows(copy)) == 50  # made again from the new ledger


def test_a_ledger_restored_from_a_backup_is_the_truth_not_the_copy_made_after_it(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(40)))
    p = project(tmp_path, sandbox)
    run(p)
    ledger_file = tmp_path / ".capisync" / "state.db"
    backup = tmp_path / "backup.db"
    with sqlite3.connect(ledger_file) as live, sqlite3.connect(backup) as copy_to:
        live.backup(copy_to)
    add_rows(tmp_path / "w.duckdb", fresh_rows(range(40, 50)))
    run(p)
    for f in (tmp_path / ".capisync").glob("state.db*"):
        f.unlink()
    shutil.copy(backup, ledger_file)

    sandbox.reset()
    again = run(p)  # the restored ledger never saw the 10 rows: they are sent again
    assert (again.counts["sent"], again.counted_in_warehouse) == (10, 40)
    assert sorted(sent_ids(sandbox)) == sorted(f"o{i}" for i in range(40, 50))


def two_syncs(tmp_path: Path, sandbox: SandboxServer) -> Project:
    config = tmp_path / "capisync.yml"
    destination = f'{{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}'
    config.write_text(f"""
syncs:
  a:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    destination: {destination}
  b:
    source: {{duckdb: w.duckdb}}
    model: select * from t where order_id < 'o2'
    identifier: order_id
    destination: {destination}
""")
    return load_project(config, env=dict(os.environ))


def test_two_syncs_of_one_ledger_keep_copies_of_their_own(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(300)))
    p = two_syncs(tmp_path, sandbox)
    firsts = [run_sync(p, name, clock=lambda: NOW) for name in ("a", "b", "a")]
    assert [r.counts["sent"] for r in firsts] == [300, 112, 0]  # b: o0, o1, o10-o19, o100-o199
    add_rows(tmp_path / "w.duckdb", fresh_rows(range(300, 310)))
    sandbox.reset()
    b = run_sync(p, "b", clock=lambda: NOW)
    a = run_sync(p, "a", clock=lambda: NOW)
    assert (b.counts["sent"], b.counted_in_warehouse) == (0, 112)
    assert (a.counts["sent"], a.counted_in_warehouse) == (10, 300)
    assert len(copies(tmp_path)) == 2
    assert sorted(len(copied_rows(c)) for c in copies(tmp_path)) == [112, 310]


def test_a_copy_that_cannot_be_written_falls_back_to_the_ledger(
    tmp_path: Path, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(600)))
    p = project(tmp_path, sandbox)
    run(p)
    folder = tmp_path / ".capisync" / "state-settled"
    shutil.rmtree(folder)
    folder.write_text("a file where the copy's folder should be")
    sandbox.reset()
    again = run(p)
    assert (again.counted_in_warehouse, sent_ids(sandbox)) == (600, [])
    assert "settled copy" in caplog.text and "from the ledger instead" in caplog.text


def test_pruning_the_ledger_prunes_the_copy_with_the_same_cutoff(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "state.db"))
    run_id = ledger.start_run("s", dry_run=False, now=1000.0)
    ledger.checkpoint("s", run_id, 1000.0, sent=[("old", "e1", None)])
    ledger.checkpoint("s", run_id, 5000.0, sent=[("new", "e2", None)])
    path = settled_copy.copy_path(ledger, tmp_path, "s")
    assert settled_copy.refresh(path, ledger, "s", run_id, pruned_before=None) == 2
    ledger.prune("s", settled_before=2000.0)
    assert settled_copy.refresh(path, ledger, "s", run_id, pruned_before=2000.0) == 1
    assert copied_rows(path) == [("new", "sent")]
    ledger.close()


def test_rows_a_reset_forgets_are_sent_again_although_the_copy_held_them(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from capisync.resend import choice_of, reset

    write_table(tmp_path / "w.duckdb", "TIMESTAMP", fresh_rows(range(60)))
    p = project(tmp_path, sandbox)
    run(p)
    (copy,) = copies(tmp_path)
    assert len(copied_rows(copy)) == 60
    done = reset(p, "s", choice_of(["o7", "o8"], None, False), confirm=lambda counts: True)
    assert done is not None and done.rows == 2
    sandbox.reset()
    again = run(p)
    assert (again.counts["sent"], again.counted_in_warehouse) == (2, 58)
    assert sent_ids(sandbox) == ["o7", "o8"]
    assert len(copied_rows(copy)) == 60  # made again from the ledger, the two sent again

    reset(p, "s", choice_of([], None, True), confirm=lambda counts: True)
    sandbox.reset()
    assert run(p).counts["sent"] == 60
