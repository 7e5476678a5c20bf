"""The settled copy: a sync's settled identifiers, kept between runs in a DuckDB file of
capisync's own, so that a DuckDB model is read through an anti-join against them
(sources/antijoin.py) without taking every settled identifier out of the ledger on every run
(2,000,000 of them cost 15-20 s a run, most of a run after +1 % new rows).

Where: beside a SQLite ledger (`.capisync/state.db` keeps `.capisync/state-settled/`), or in
the project's `.capisync/settled/` for a ledger behind a URL (each machine its own copy). One
file per sync, `<sync>-<hash>.duckdb`, written only by a run holding the sync's lock.

What it holds:

    settled (identifier, state, updated_at)   the ledger's sent, expired and baseline rows
    copied  (ledger_key, through_run, run_started)   which ledger, up to which of its runs

A refresh copies only the rows settled by the runs after `through_run` (the ledger's
(sync, state, run_id) index), in one DuckDB transaction with the new `through_run`: a crash
in between leaves the copy as it was and the next refresh copies those rows again. A run
refreshes it before reading (the rows of runs it has not seen: a run stopped before its own
refresh, a run on another machine) and after it completes (its own rows).

Trust: the ledger stays the source of truth. A row the copy lacks leaves the warehouse and
is looked up in the ledger: it costs time, never a duplicate send. The copy must never hold a
row the ledger does not, so it starts over when the ledger is another one (Ledger.identity
changed: deleted, replaced), went back (restored from a backup: its run `through_run` is
gone or started at another time) or forgot rows since (`capisync reset`, which the run
history records), and it drops rows pruned from the ledger (the same cutoff on
`updated_at`, readplan.PRUNE_AFTER_SECONDS).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import duckdb

from capisync.errors import CapisyncError
from capisync.state.ledger import Ledger

log = logging.getLogger("capisync.state")

TABLE = "settled"
MEMORY_LIMIT = "32MB"  # DuckDB's memory for a refresh (2,000,000 rows ran in it)
CHUNK = 20_000  # rows taken from the ledger, and inserted, at a time (memory: a few MB)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def copy_path(ledger: Ledger, project_dir: Path, sync: str) -> Path:
    """The copy's file for `sync`: beside a SQLite ledger, else in the project's
    `.capisync/settled/` (a ledger behind a URL)."""
    name = f"{_SAFE.sub('_', sync)[:60]}-{hashlib.sha256(sync.encode()).hexdigest()[:12]}"
    if ledger.path is not None:
        folder = ledger.path.parent / f"{ledger.path.stem}-settled"
    else:
        folder = project_dir / ".capisync" / "settled"
    return folder / f"{name}.duckdb"


def refresh(
    path: Path, ledger: Ledger, sync: str, through_run: int, *, pruned_before: float | None
) -> int | None:
    """Bring the copy at `path` up to the ledger's settled rows of `sync` through run
    `through_run` (made when missing, started over when it belongs to another ledger or to
    a ledger that went back), dropping rows last written before `pruned_before` (epoch
    seconds; None: no pruning). Returns how many settled rows the copy holds, or None when
    it cannot be used (logged once: the run then reads the settled rows from the ledger).
    The caller holds the sync's lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as con:
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            con.execute("SET threads = 2")
            con.execute("SET enable_progress_bar = false")
            return _refresh(con, ledger, sync, through_run, pruned_before)
    except (duckdb.Error, OSError, CapisyncError) as exc:
        log.warning(
            "sync '%s': the settled copy %s cannot be used (%s: %s); this run takes the settled "
            "rows from the ledger instead",
            sync,
            path,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        return None


def _refresh(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    sync: str,
    through_run: int,
    pruned_before: float | None,
) -> int:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (identifier VARCHAR NOT NULL, "
        "state VARCHAR NOT NULL, updated_at DOUBLE NOT NULL)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS copied (ledger_key VARCHAR NOT NULL, "
        "through_run BIGINT NOT NULL, run_started DOUBLE NOT NULL)"
    )
    key = ledger.identity(sync)
    row = con.execute("SELECT ledger_key, through_run, run_started FROM copied").fetchone()
    after = 0  # the run the copy is up to, when it is this ledger's and the ledger has it
    if (
        row is not None
        and row[0] == key
        and int(row[1]) <= through_run  # a copy ahead of the ledger: the ledger went back
        and ledger.run_started(sync, int(row[1])) == row[2]
        and not ledger.reset_after(sync, int(row[1]))  # rows forgotten to be sent again
    ):
        after = int(row[1])
    last = ledger.last_run(sync, through_run)
    con.execute("BEGIN TRANSACTION")
    try:
        if after == 0:  # new, or another ledger's: start over
            con.execute(f"DELETE FROM {TABLE}")
        if pruned_before is not None:
            con.execute(f"DELETE FROM {TABLE} WHERE updated_at < ?", [pruned_before])
        if key is not None and last is not None and after < last[0]:
            _copy_rows(con, ledger, sync, after, last[0], dedupe=after > 0)
            con.execute("DELETE FROM copied")
            con.execute("INSERT INTO copied VALUES (?, ?, ?)", [key, *last])
        elif key is None or last is None:
            con.execute("DELETE FROM copied")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    counted = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    return int(counted[0]) if counted else 0


def _copy_rows(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    sync: str,
    after: int,
    through: int,
    *,
    dedupe: bool,
) -> None:
    """The rows settled by runs `after` < id <= `through`. A row already copied (pruned from
    the ledger on another machine's clock, then settled again) is replaced, never doubled."""
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS delta (identifier VARCHAR, state VARCHAR, "
        "updated_at DOUBLE)"
    )
    con.execute("DELETE FROM delta")
    target = "delta" if dedupe else TABLE
    for part in ledger.settled_after(sync, after, through, CHUNK):
        ids, states, times = zip(*part, strict=True)
        con.execute(
            f"INSERT INTO {target} SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), "
            "unnest($3::DOUBLE[])",
            [list(ids), list(states), list(times)],
        )
    if dedupe:
        con.execute(f"DELETE FROM {TABLE} WHERE identifier IN (SELECT identifier FROM delta)")
        con.execute(f"INSERT INTO {TABLE} SELECT * FROM delta")
        con.execute("DELETE FROM delta")
