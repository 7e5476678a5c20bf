"""capisync at scale: a real sync of an N-row messy model, first run and a run after +1 %.

    .venv/bin/python bench/scale.py                                  # 50,000 rows (~2 min)
    .venv/bin/python bench/scale.py --rows 200000,2000000            # the issue's table
    .venv/bin/python bench/scale.py --sources duckdb --ledgers sqlite

For each size, the model (``SELECT * FROM orders``, the rows of ``data.py``) is built once in
a DuckDB file and once in PostgreSQL (127.0.0.1:5432, db ``test``, schema ``bench_scale``).
For each source x ledger (SQLite file, or PostgreSQL schema ``bench_scale_ledger``), a fresh
ledger, then:

1. a first run: the whole model is new;
2. 1 % new rows are inserted into the model, and a second run.

Each run is ``run_sync`` in a child process (its peak RSS is its own VmHWM), against
the local sandbox (no added latency, in this process), concurrency 4, with the clock of
``data.NOW``. Printed per run: wall seconds, events sent per second, peak RSS, rows that left
the warehouse (rows the run read from it; rows counted in the warehouse by an anti-join did
not), and the second run's speed-up over the first.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import COLUMNS, NOW_EPOCH, messy_batch  # noqa: E402

# the PostgreSQL database (--pg-db, default `test`) holding the model, ledger and write-back
PG = {"db": "test"}


def pg_dsn() -> str:
    return f"host=127.0.0.1 port=5432 dbname={PG['db']} user=postgres"


def pg_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG['db']}"


MODEL_SCHEMA, LEDGER_SCHEMA = "bench_scale", "bench_scale_ledger"
WRITEBACK_SCHEMA = "bench_scale_writeback"
DDL_TYPES = {"event_time": "TIMESTAMP", "value": "DECIMAL(10, 2)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="50000", help="sizes, comma-separated (50000)")
    parser.add_argument(
        "--sources",
        default="duckdb,postgres,postgres+wb",
        help="duckdb, postgres, postgres+wb (with `writeback:`; not in --baseline code)",
    )
    parser.add_argument("--ledgers", default="sqlite,postgres")
    parser.add_argument("--new", type=float, default=0.01, help="share of new rows (0.01)")
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    parser.add_argument("--pg-db", default="test", help="PostgreSQL database (test)")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "SYNC", "OFFSET"), help="internal")
    args = parser.parse_args()
    PG["db"] = args.pg_db
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.rows.split(",")]
    sources, ledgers = args.sources.split(","), args.ledgers.split(",")
    with tempfile.TemporaryDirectory(prefix="capisync-scale-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        bench(work, sizes, sources, ledgers, args.new)


def bench(work: Path, sizes: list[int], sources: list[str], ledgers: list[str], new: float) -> None:
    from capisync import __version__
    from capisync.sandbox import SandboxConfig, SandboxServer

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"capisync {__version__} at {commit or '?'}; {os.cpu_count()} CPUs; concurrency 4")
    header = (
        f"{'rows':>9} {'source':11} {'ledger':8} | {'1st s':>7} {'ev/s':>6} {'RSS MB':>7} | "
        f"{'2nd s':>6} {'left db':>8} {'RSS MB':>7} {'1st/2nd':>7}"
    )
    print(header)
    print("-" * len(header))
    # the data's clock (data.NOW) for the sandbox and every run, advancing in real time
    offset = NOW_EPOCH - time.time()
    sandbox_config = SandboxConfig(keep_events=False, clock=lambda: time.time() + offset)
    with SandboxServer(sandbox_config) as sandbox:
        for rows in sizes:
            for source in sources:
                for ledger in ledgers:
                    sandbox.reset()
                    case = work / f"{rows}-{source}-{ledger}"
                    case.mkdir(exist_ok=True)
                    build_model(case, source, rows)
                    config = write_project(case, source, ledger, sandbox.url)
                    first = run_child(config, offset)
                    sandbox.reset()  # the sandbox's memory is not the run's, but keep it small
                    added = max(1, int(rows * new))
                    insert_rows(case, source, rows, added)
                    second = run_child(config, offset)
                    ratio = first["wall"] / second["wall"] if second["wall"] else 0.0
                    print(
                        f"{rows:>9,} {source:11} {ledger:8} | {first['wall']:7.1f} "
                        f"{first['sent'] / first['wall']:6.0f} {first['rss_mb']:7.0f} | "
                        f"{second['wall']:6.1f} {second['left']:>8,} {second['rss_mb']:7.0f} "
                        f"{ratio:6.1f}x",
                        flush=True,
                    )
                    for run in (first, second):
                        if run["status"] != "completed":
                            print(f"    run {run['status']}: {run['error']}")


def run_child(config: Path, offset: float) -> dict[str, object]:
    """Run the sync in a child process; its wall time and peak RSS (os.wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(config), "s", repr(offset)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    try:
        result: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = {"status": f"crashed ({proc.returncode})", "error": out.decode()[-2000:]}
        result.update(sent=0, left=0)
    # the child's own high-water mark (VmHWM): ru_maxrss would keep the parent's size at the
    # fork, as Linux carries it over exec
    result.update(wall=wall)
    result.setdefault("rss_mb", usage.ru_maxrss / 1024)
    return result


def child(config: str, sync: str, clock_offset: str) -> None:
    from capisync.config import load_project
    from capisync.errors import CapisyncError
    from capisync.sync import run_sync

    offset = float(clock_offset)
    project = load_project(Path(config), env=dict(os.environ))
    try:
        report = run_sync(project, sync, clock=lambda: time.time() + offset)
    except CapisyncError as exc:
        report = exc.report  # type: ignore[attr-defined]
    counts = report.counts
    in_warehouse = int(getattr(report, "counted_in_warehouse", 0))
    print(
        json.dumps(
            {
                "status": report.status,
                "error": report.error,
                "sent": counts["sent"],
                "read": counts["read"],
                "left": counts["read"] - in_warehouse,
                "counts": dict(counts),
                "rss_mb": peak_rss_mb(),
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM in /proc/self/status), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the model ------------------------------------------------------------------------------


def write_csv(path: Path, start: int, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        for first in range(start, start + rows, 1000):
            for row in messy_batch(first, min(1000, start + rows - first)):
                out.writerow(["" if row[c] is None else row[c] for c in COLUMNS])


def build_model(case: Path, source: str, rows: int) -> None:
    data = case.parent / f"rows-{rows}.csv"
    if not data.exists():
        write_csv(data, 0, rows)
    if source == "duckdb":
        (case / "w.duckdb").unlink(missing_ok=True)
        with duckdb.connect(str(case / "w.duckdb")) as con:
            con.execute(f"CREATE TABLE orders ({_ddl('VARCHAR')})")
            _duckdb_load(con, data)
    else:
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {MODEL_SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {MODEL_SCHEMA}")
            conn.execute(f"CREATE TABLE {MODEL_SCHEMA}.orders ({_ddl('TEXT')})")
            _pg_load(conn, data)


def insert_rows(case: Path, source: str, start: int, rows: int) -> None:
    data = case / "new.csv"
    write_csv(data, start, rows)
    if source == "duckdb":
        with duckdb.connect(str(case / "w.duckdb")) as con:
            _duckdb_load(con, data)
    else:
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            _pg_load(conn, data)


def _ddl(text: str) -> str:
    return ", ".join(f"{c} {DDL_TYPES.get(c, text)}" for c in COLUMNS)


def _duckdb_load(con: duckdb.DuckDBPyConnection, data: Path) -> None:
    con.execute(f"COPY orders FROM '{data}' (HEADER false, NULLSTR '')")


def _pg_load(conn: psycopg.Connection[tuple[object, ...]], data: Path) -> None:
    with conn.cursor() as cur, data.open("rb") as f:
        copy_sql = f"COPY {MODEL_SCHEMA}.orders FROM STDIN (FORMAT csv)"
        with cur.copy(copy_sql) as copy:  # type: ignore[arg-type]
            while chunk := f.read(1 << 20):
                copy.write(chunk)


def write_project(case: Path, source: str, ledger: str, base_url: str) -> Path:
    writeback = ""
    if source == "duckdb":
        src = "{duckdb: w.duckdb}"
    else:
        src = f'{{url: "{pg_url()}?options=-csearch_path%3D{MODEL_SCHEMA}"}}'
    if source == "postgres+wb":
        writeback = f"    writeback: {{schema: {WRITEBACK_SCHEMA}}}\n"
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {WRITEBACK_SCHEMA} CASCADE")
    if ledger == "sqlite":
        (case / "state.db").unlink(missing_ok=True)
        state = "{path: state.db}"
    else:
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {LEDGER_SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {LEDGER_SCHEMA}")
        state = f'{{url: "{pg_url()}?options=-csearch_path%3D{LEDGER_SCHEMA}"}}'
    config = case / "capisync.yml"
    config.write_text(f"""
state: {state}
syncs:
  s:
    source: {src}
    model: select * from orders
    identifier: order_id
    event_id: "{{event_name}}:{{order_id}}"
    default_country: us
    mapping: {{client_user_agent: user_agent, event_source_url: page_url}}
    delivery: {{concurrency: 4}}
    destination: {{dataset_id: "1234567890", access_token: sandbox-token, base_url: "{base_url}"}}
{writeback}""")
    return config


if __name__ == "__main__":
    main()
