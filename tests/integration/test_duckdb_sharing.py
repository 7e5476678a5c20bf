"""A DuckDB source holds the user's file only while it reads the model, never while it sends,
and waits for a writer (a dbt run) instead of failing; relative CSV/Parquet paths in a model
resolve against the project's folder. Writers are real processes: DuckDB's lock is per process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from capisync.errors import SourceError, SourceUnavailableError
from capisync.sandbox import SandboxServer
from capisync.sources import open_source
from capisync.sources.duckdb import DuckDBSource

CAPISYNC = Path(sys.executable).parent / "capisync"

# holds the file read-write (as a dbt run does) for argv[2] seconds, after printing "held"
HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)

# opens the file read-write again and again for argv[2] seconds, as repeated dbt runs do,
# waiting out a reader's lock; prints how often it wrote and its longest wait
WRITER = textwrap.dedent(
    """
    import json, sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    end, waits = time.monotonic() + seconds, []
    print("started", flush=True)
    while time.monotonic() < end:
        asked = time.monotonic()
        while True:
            try:
                con = duckdb.connect(path)
                break
            except duckdb.IOException:
                if time.monotonic() - asked > 30:
                    raise
                time.sleep(0.01)
        waits.append(time.monotonic() - asked)
        con.execute("CREATE TABLE IF NOT EXISTS dbt_runs (written_at DOUBLE)")
        con.execute("INSERT INTO dbt_runs VALUES (?)", [time.time()])
        con.close()
        time.sleep(0.02)
    print(json.dumps({"writes": len(waits), "longest_wait": max(waits)}), flush=True)
    """
)


def hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def write_rw(path: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys, duckdb; c = duckdb.connect(sys.argv[1]); c.execute('CHECKPOINT'); c.close()"
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def duck(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id, 'x' || range AS name FROM range(2500)")
    return path


def test_the_file_is_free_while_the_rows_are_streamed(duck: Path) -> None:
    source = DuckDBSource(duck, "select id, name from t order by id")
    batches = source.batches(100)
    first = next(batches)
    assert first[0] == {"id": 0, "name": "x0"}
    # a dbt run can now write the file, while the rest of the model is still to be sent
    assert write_rw(duck).returncode == 0
    with duckdb.connect(str(duck)) as con:  # this process too
        con.execute("INSERT INTO t VALUES (9999, 'late')")
    rest = [row for batch in batches for row in batch]
    assert len(first) + len(rest) == 2500  # the snapshot the read took
    assert len(source.held_seconds) == 1
    spool = source._spool_dir
    assert spool is not None and spool.is_dir()
    source.close()
    assert not spool.exists()  # the spool goes with the source


def test_columns_and_each_read_release_the_file(duck: Path) -> None:
    source = DuckDBSource(duck, "select id, name from t")
    assert source.columns() == ["id", "name"]
    assert write_rw(duck).returncode == 0
    assert sum(len(b) for b in source.batches(1000, limit=250)) == 250
    assert write_rw(duck).returncode == 0
    source.close()


def test_a_writer_is_waited_for_with_one_warning(
    duck: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = hold(duck, 1.0)
    source = DuckDBSource(duck, "select id from t", wait_seconds=30)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="capisync.sources"):
        assert source.columns() == ["id"]
    assert time.monotonic() - started >= 0.5  # it did wait for the writer
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "held by another process writing it (a dbt run?)" in warnings[0]
    holder.wait(timeout=30)
    source.close()


def test_a_writer_that_keeps_the_file_makes_the_run_try_again_later(duck: Path) -> None:
    holder = hold(duck, 30)
    try:
        clock = iter(range(1000))
        source = DuckDBSource(
            duck,
            "select id from t",
            wait_seconds=5,
            sleep=lambda s: None,
            monotonic=lambda: float(next(clock)),
        )
        for read in (source.columns, lambda: next(source.batches(10))):
            with pytest.raises(SourceUnavailableError) as err:
                read()
            assert err.value.exit_code == 75
            assert f"DuckDB file {duck} is held by another process writing it" in str(err.value)
            assert "not released within 5 s" in str(err.value)
        source.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_file_that_is_not_duckdb_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database\n" * 100)
    source = open_source(duckdb_path=path, url=None, model_sql="select 1")
    with pytest.raises(SourceError, match=f"cannot open DuckDB file {path}") as err:
        source.columns()
    assert not isinstance(err.value, SourceUnavailableError)


def test_the_model_sees_the_file_under_its_own_name(duck: Path) -> None:
    """A relation qualified with the file's catalog (`w.main.t`, as dbt writes it) works."""
    source = DuckDBSource(duck, 'select count(*) as n from "w"."main"."t"')
    assert next(source.batches(10)) == [{"n": 2500}]
    source.close()


# -- CSV and Parquet files named in a model ---------------------------------------------------


@pytest.fixture
def files_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    duckdb.connect(str(root / "data" / "w.duckdb")).close()
    rows = "SELECT 'o-' || range AS order_id, 10.0 + range AS value FROM range({0}, {1})"
    with duckdb.connect() as con:
        con.execute(f"COPY ({rows.format(0, 3)}) TO '{root / 'orders.parquet'}' (FORMAT parquet)")
        con.execute(f"COPY ({rows.format(3, 5)}) TO '{root / 'data' / 'more.csv'}' (HEADER)")
    return root


MODEL = (
    "select * from 'orders.parquet' union all "
    "select order_id, value from read_csv_auto('data/more.csv') order by order_id"
)


def test_relative_csv_and_parquet_paths_resolve_in_the_project_folder(
    files_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    source = open_source(
        duckdb_path=files_project / "data" / "w.duckdb",
        url=None,
        model_sql=MODEL,
        search_dir=files_project,
    )
    rows = [row for batch in source.batches(2) for row in batch]
    assert [r["order_id"] for r in rows] == ["o-0", "o-1", "o-2", "o-3", "o-4"]
    source.close()
    # without the project's folder, DuckDB looks in the current directory only
    bare = open_source(duckdb_path=files_project / "data" / "w.duckdb", url=None, model_sql=MODEL)
    with pytest.raises(SourceError, match="No files found that match the pattern"):
        bare.columns()
    bare.close()


def test_capisync_run_reads_csv_and_parquet_from_another_directory(
    files_project: Path, tmp_path: Path, sandbox: SandboxServer
) -> None:
    model = (
        "select order_id, value, 'USD' as currency, 'Purchase' as event_name, "
        "now() - interval 1 hour as event_time, 'physical_store' as action_source, "
        "'u' || order_id || '@example.com' as email from (" + MODEL + ")"
    )
    (files_project / "capisync.yml").write_text(
        f"""syncs:
  files:
    source: {{duckdb: data/w.duckdb}}
    model: "{model}"
    identifier: order_id
    destination: {{dataset_id: "777", access_token: sandbox-token, base_url: "{sandbox.url}"}}
"""
    )
    ran = subprocess.run(
        [str(CAPISYNC), "run", "--config", str(files_project / "capisync.yml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert len(sandbox.store.events("777")) == 5


# -- two real processes: repeated dbt-like writes while capisync sends slowly ------------------


@pytest.fixture
def slow_project(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Path]:
    sandbox.config.latency_ms = 250  # every batch takes 0.25 s to be answered
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            """CREATE TABLE orders AS SELECT 'o-' || range AS order_id, 'Purchase' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'physical_store' AS action_source,
            'user' || range || '@example.com' AS email, 10.0 AS value, 'USD' AS currency
            FROM range(2000)"""
        )
    (tmp_path / "capisync.yml").write_text(
        f"""syncs:
  slow:
    source: {{duckdb: w.duckdb}}
    model: select * from orders
    identifier: order_id
    destination: {{dataset_id: "888", access_token: sandbox-token, base_url: "{sandbox.url}"}}
    delivery: {{batch_size: 100, concurrency: 1}}
"""
    )
    yield tmp_path
    sandbox.config.latency_ms = 0


def test_dbt_like_writer_and_a_slow_capisync_run_share_the_file(
    slow_project: Path, sandbox: SandboxServer
) -> None:
    run = subprocess.Popen(
        [str(CAPISYNC), "run", "--config", str(slow_project / "capisync.yml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(slow_project / "w.duckdb"), "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
    started = time.monotonic()
    output, _ = run.communicate(timeout=120)
    sending = time.monotonic() - started
    written, _ = writer.communicate(timeout=120)
    assert run.returncode == 0, output
    assert writer.returncode == 0, written
    assert len(sandbox.store.events("888")) == 2000
    stats = json.loads(written)
    print(f"sending {sending:.1f} s, writer: {stats}")
    # 20 batches at 0.25 s: the run sends for seconds; the writer waited at most for the read
    assert sending >= 4
    assert stats["writes"] >= 10, stats
    assert stats["longest_wait"] < 2.0, stats
    with duckdb.connect(str(slow_project / "w.duckdb"), read_only=True) as con:
        (writes,) = con.execute("SELECT count(*) FROM dbt_runs").fetchone() or (0,)
    assert writes == stats["writes"]


TYPED = """select 9007199254740993::BIGINT big, 18446744073709551615::UBIGINT ubig,
 12.345::DECIMAL(18,3) dec, 123456789012345678901234567.89::DECIMAL(38,2) wide,
 TIMESTAMP '2026-01-02 03:04:05.123456' ts, TIMESTAMPTZ '2026-01-02 03:04:05+02' tstz,
 DATE '2026-01-02' d, TIMETZ '03:04:05+02' ttz, INTERVAL 3 DAY span, ['a', 'b'] ids,
 {'x': 1, 'y': 'z'} rec, MAP {'k': 1} m, '{"a": 1}'::JSON j, [{'id': 'a', 'quantity': 2}] contents,
 'Ünïcødé' uni, NULL::INT none"""
# sum() of a BIGINT is a HUGEINT in DuckDB
HUGE = TYPED + ", (select sum(x) from (select 9007199254740993::BIGINT x)) summed"


@pytest.mark.parametrize(("model", "spool"), [(TYPED, "parquet"), (HUGE, "duckdb")])
def test_the_spool_returns_exactly_what_duckdb_returns(duck: Path, model: str, spool: str) -> None:
    """Parquet spool for most models; a model with a HUGEINT, which Parquet would turn into a
    DOUBLE, spools to a DuckDB file instead."""
    with duckdb.connect(str(duck), read_only=True) as con:
        cursor = con.execute(model)
        names = [d[0] for d in cursor.description or ()]
        direct = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    source = DuckDBSource(duck, model)
    batches = source.batches(10)
    spooled = next(batches)
    assert source._spool_dir is not None
    assert {f.suffix for f in source._spool_dir.glob("model-*")} - {".wal"} == {f".{spool}"}
    source.close()
    assert spooled == direct
    assert [type(v) for v in spooled[0].values()] == [type(v) for v in direct[0].values()]


def test_a_model_that_needs_more_memory_is_copied_again_with_more(
    duck: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = "select range as id, repeat('x', 200) || range as pad from range(200000)"
    monkeypatch.setattr("capisync.sources.duckdb.MEMORY_LIMITS", ("1MB", "256MB"))
    source = DuckDBSource(duck, model)
    with caplog.at_level(logging.WARNING, logger="capisync.sources"):
        assert sum(len(b) for b in source.batches(5000)) == 200000
    assert any("more memory than 1MB" in r.getMessage() for r in caplog.records)
    source.close()
    monkeypatch.setattr("capisync.sources.duckdb.MEMORY_LIMITS", ("1MB",))
    source = DuckDBSource(duck, model)
    with pytest.raises(SourceError, match="Out of Memory"):
        next(source.batches(5000))
    source.close()


def test_a_source_dropped_without_close_leaves_no_spool(duck: Path) -> None:
    import gc

    source = DuckDBSource(duck, "select id from t")
    assert len(next(source.batches(10))) == 10
    spool = source._spool_dir
    assert spool is not None and spool.is_dir()
    del source
    gc.collect()
    assert not spool.exists()


def test_a_narrowed_read_is_what_is_spooled_and_the_file_stays_free_and_unwritten(
    duck: Path,
) -> None:
    from capisync.readplan import ReadPlan
    from capisync.sources import antijoin

    source = DuckDBSource(duck, "select id, name from t order by id")
    settled = [(str(i), "sent") for i in range(0, 2500, 2)]  # the even ids: settled
    narrowed = source.narrow(ReadPlan("id", None, lambda: iter([settled])))
    assert (narrowed.anti_join, narrowed.settled) == (True, {"sent": 1250})
    assert write_rw(duck).returncode == 0  # planning let go of the file too
    batches = source.batches(100)
    first = next(batches)
    assert write_rw(duck).returncode == 0  # free while the narrowed rows are streamed
    rows = first + [row for batch in batches for row in batch]
    assert [r["id"] for r in rows] == list(range(1, 2500, 2))
    assert len(source.held_seconds) == 2  # the plan and the copy, each held briefly
    # the settled set lives in the private in-memory DuckDB, never in the user's file
    assert source._con is not None
    plan_dbs = source._con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = ?", [antijoin.PLAN_DB]
    ).fetchall()
    assert plan_dbs == [(None,)]
    source.close()
    with duckdb.connect(str(duck), read_only=True) as con:
        tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert sorted(tables) == [("t",)]


def test_the_copy_of_a_narrowed_read_gets_memory_for_the_settled_identifiers(
    duck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from capisync.readplan import ReadPlan
    from capisync.sources import antijoin

    model = "select range as id, repeat('x', 200) || range as pad from range(200000)"
    monkeypatch.setattr("capisync.sources.duckdb.MEMORY_LIMITS", ("1MB",))  # alone: too little
    monkeypatch.setattr(antijoin, "SETTLED_BYTES", 2**20)  # 1 MB per identifier, 256 of them
    source = DuckDBSource(duck, model)
    settled = [(str(i), "sent") for i in range(256)]
    assert source.narrow(ReadPlan("id", None, lambda: iter([settled]))).anti_join
    assert sum(len(b) for b in source.batches(5000)) == 200000 - 256
    source.close()


def test_a_narrowed_read_keeps_the_models_order_on_a_table_large_enough_to_run_in_parallel(
    tmp_path: Path,
) -> None:
    # a parallel anti-join reordered rows: the model's ORDER BY (and which row of a repeated
    # identifier is first) must hold through it
    from capisync.readplan import ReadPlan
    from capisync.sources.duckdb import DuckDBSource

    file = tmp_path / "big.duckdb"
    with duckdb.connect(str(file)) as con:
        con.execute("CREATE TABLE t AS SELECT (i * 7919) % 300007 AS id FROM range(300000) r(i)")
    source = DuckDBSource(file, "select id from t order by id")
    try:
        settled = [(str(i), "sent") for i in range(0, 300007, 2)]
        source.narrow(ReadPlan("id", None, lambda: iter([settled])))
        ids = [r["id"] for batch in source.batches(10_000) for r in batch]
    finally:
        source.close()
    assert ids == sorted(ids) and len(ids) == sum(
        1 for i in range(300000) if (i * 7919) % 300007 % 2
    )
