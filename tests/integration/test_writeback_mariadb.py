"""`writeback:` on a MySQL/MariaDB model (the real MariaDB server at 127.0.0.1:3306): the
settled identifiers are logged beside the model, the model is read through an anti-join
against them, identifiers compare byte for byte (case and trailing spaces), and the ledger
stays the source of truth when the table lags or is dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymysql
import pytest

from capisync.config import Project, load_project
from capisync.readplan import READ_MARGIN_SECONDS
from capisync.sandbox import SandboxServer
from capisync.sync import RunReport, run_sync

NOW = datetime.now(UTC).replace(microsecond=0).timestamp()


def sql(database: str | None, statement: str, rows: list[tuple[Any, ...]] | None = None) -> Any:
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=database)
    try:
        with con.cursor() as cur:
            if rows is not None:
                cur.executemany(statement, rows)
            else:
                cur.execute(statement)
            found = cur.fetchall()
        con.commit()
        return found
    finally:
        con.close()


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """A model database and the write-back's, each new, both dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    model, writeback = f"wbm_{tag}", f"wbs_{tag}"
    sql(None, f"CREATE DATABASE {model}")
    try:
        yield model, writeback
    finally:
        sql(None, f"DROP DATABASE IF EXISTS {model}")
        sql(None, f"DROP DATABASE IF EXISTS {writeback}")


def orders(database: str, ids: list[Any], id_type: str = "BIGINT", age: float = 3600) -> None:
    sql(
        database,
        f"CREATE TABLE IF NOT EXISTS t (order_id {id_type}, event_time DATETIME, "
        "action_source VARCHAR(20) DEFAULT 'physical_store', "
        "event_name VARCHAR(20) DEFAULT 'Purchase', "
        "email VARCHAR(50) DEFAULT 'jane@example.com', value DECIMAL(8, 2) DEFAULT 12.5, "
        "currency VARCHAR(3) DEFAULT 'USD')",
    )
    at = datetime.fromtimestamp(NOW - age, UTC).replace(tzinfo=None)
    sql(database, "INSERT INTO t (order_id, event_time) VALUES (%s, %s)", [(i, at) for i in ids])


def project(tmp_path: Path, sandbox: SandboxServer, model: str, writeback: str) -> Project:
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{url: "mysql+pymysql://root@127.0.0.1:3306/{model}"}}
    model: select * from t
    identifier: order_id
    writeback: {{schema: {writeback}}}
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
""")
    return load_project(config, env=dict(os.environ))


def run(p: Project) -> RunReport:
    report = run_sync(p, "s", clock=lambda: NOW)
    assert report.status == "completed", report.error
    return report


def sent_ids(sandbox: SandboxServer) -> list[str]:
    return sorted(e.event["event_id"] for e in sandbox.store.events())


def test_settled_rows_are_logged_beside_the_model_and_only_new_rows_leave_mariadb(
    tmp_path: Path, sandbox: SandboxServer, databases: tuple[str, str]
) -> None:
    model, writeback = databases
    orders(model, [10**15 + i for i in range(1500)])
    p = project(tmp_path, sandbox, model, writeback)
    first = run(p)
    assert first.counts["sent"] == 1500
    logged = sql(
        writeback,
        "SELECT state, count(*), count(event_id), count(fbtrace_id), min(run_id) "
        "FROM capisync_settled WHERE sync = 's' GROUP BY state",
    )
    assert [tuple(r) for r in logged] == [("sent", 1500, 1500, 1500, first.run_id)]

    orders(model, [10**15 + i for i in range(1500, 1520)])
    sandbox.reset()
    second = run(p)
    c = second.counts
    assert (c["read"], c["already"], c["sent"], second.counted_in_warehouse) == (
        1520,
        1500,
        20,
        1500,
    )
    assert sent_ids(sandbox) == sorted(str(10**15 + i) for i in range(1500, 1520))


def test_identifiers_that_differ_in_case_or_trailing_spaces_are_not_taken_for_settled(
    tmp_path: Path, sandbox: SandboxServer, databases: tuple[str, str]
) -> None:
    """MariaDB's default collations take 'A1', 'a1' and 'A1 ' for one value; the ledger
    does not, and neither may the anti-join."""
    model, writeback = databases
    orders(model, ["A1"], id_type="VARCHAR(20)")
    p = project(tmp_path, sandbox, model, writeback)
    assert run(p).counts["sent"] == 1
    orders(model, ["a1", "A1 "], id_type="VARCHAR(20)")
    sandbox.reset()
    again = run(p)
    assert (again.counts["sent"], again.counted_in_warehouse) == (2, 1)
    assert sent_ids(sandbox) == ["A1 ", "a1"]


def test_a_lagging_or_dropped_write_back_table_never_sends_a_row_twice(
    tmp_path: Path, sandbox: SandboxServer, databases: tuple[str, str]
) -> None:
    model, writeback = databases
    orders(model, list(range(1200)))
    p = project(tmp_path, sandbox, model, writeback)
    run(p)
    sandbox.reset()
    sql(writeback, "DELETE FROM capisync_settled WHERE RIGHT(identifier, 1) IN ('1', '2', '3')")
    lagging = run(p)
    assert sent_ids(sandbox) == [] and lagging.counts["already"] == 1200
    assert lagging.counted_in_warehouse == 840  # 360 rows left the database, found settled
    # ... and were written back as they were met: the next run leaves them all there
    assert sql(writeback, "SELECT count(*) FROM capisync_settled")[0][0] == 1200
    assert run(p).counted_in_warehouse == 1200

    sql(writeback, "DROP TABLE capisync_settled")
    dropped = run(p)
    assert sent_ids(sandbox) == [] and dropped.counts["already"] == 1200


def test_rows_older_than_any_window_are_not_read_out_of_mariadb(
    tmp_path: Path, sandbox: SandboxServer, databases: tuple[str, str]
) -> None:
    model, writeback = databases
    too_old = 62 * 86400 + READ_MARGIN_SECONDS + 3600
    orders(model, [1, 2])
    orders(model, [3], age=too_old)
    report = run(project(tmp_path, sandbox, model, writeback))
    assert (report.counts["read"], report.counts["sent"], report.not_read_too_old) == (2, 2, 1)
    assert timedelta(seconds=too_old) > timedelta(days=63)
