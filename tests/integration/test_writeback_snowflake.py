"""`writeback:` on a Snowflake model, through Snowflake's real SQLAlchemy dialect and connector
answered by fakesnow (a DuckDB-backed fake; no Snowflake server is reachable here): the
settled identifiers are merged into the write-back table, the model is read through an
anti-join against it, and a lagging table never makes a row go twice."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.integration.fakesnow_compat import load

from capisync.config import Project, load_project
from capisync.sandbox import SandboxServer
from capisync.sync import RunReport, run_sync

URL = "snowflake://capisync:not-a-password@my_org-my_account/ANALYTICS/MARTS?warehouse=W"
NOW = datetime.now(UTC).replace(microsecond=0).timestamp()
pytestmark = pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")


@pytest.fixture
def snowflake(tmp_path: Path) -> Iterator[Any]:
    """A fake Snowflake for this test, its databases kept under tmp_path."""
    fakesnow = load()
    import snowflake.connector

    (tmp_path / "snow").mkdir()
    with fakesnow.patch(db_path=str(tmp_path / "snow")):
        con = snowflake.connector.connect(database="ANALYTICS", schema="MARTS")
        con.cursor().execute("CREATE SCHEMA IF NOT EXISTS ANALYTICS.MARTS")
        con.cursor().execute(
            "CREATE TABLE t (order_id NUMBER(19,0), event_time TIMESTAMP_NTZ, "
            "action_source VARCHAR, event_name VARCHAR, email VARCHAR, value NUMBER(8,2), "
            "currency VARCHAR)"
        )
        yield con
        con.close()


def add_orders(con: Any, ids: range) -> None:
    at = datetime.fromtimestamp(NOW - 3600, UTC).replace(tzinfo=None).isoformat(sep=" ")
    values = ", ".join(
        f"({10**15 + i}, '{at}', 'physical_store', 'Purchase', 'jane@example.com', 12.5, 'USD')"
        for i in ids
    )
    con.cursor().execute(f"INSERT INTO t VALUES {values}")


def project(tmp_path: Path, sandbox: SandboxServer) -> Project:
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{url: "{URL}"}}
    model: select * from t
    identifier: order_id
    writeback: {{schema: capisync_wb}}
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
""")
    return load_project(config, env=dict(os.environ))


def run(p: Project) -> RunReport:
    report = run_sync(p, "s", clock=lambda: NOW)
    assert report.status == "completed", report.error
    return report


def sent_ids(sandbox: SandboxServer) -> list[str]:
    return sorted(e.event["event_id"] for e in sandbox.store.events())


def test_settled_rows_are_merged_beside_the_model_and_only_new_rows_leave_snowflake(
    snowflake: Any, tmp_path: Path, sandbox: SandboxServer
) -> None:
    add_orders(snowflake, range(1200))
    p = project(tmp_path, sandbox)
    first = run(p)
    assert first.counts["sent"] == 1200
    logged = (
        snowflake.cursor()
        .execute(
            "SELECT state, count(*), count(event_id), count(fbtrace_id), min(run_id) "
            "FROM ANALYTICS.capisync_wb.capisync_settled WHERE sync = 's' GROUP BY state"
        )
        .fetchall()
    )
    assert [tuple(r) for r in logged] == [("sent", 1200, 1200, 1200, first.run_id)]

    add_orders(snowflake, range(1200, 1215))
    sandbox.reset()
    second = run(p)
    c = second.counts
    assert (c["read"], c["already"], c["sent"], second.counted_in_warehouse) == (
        1215,
        1200,
        15,
        1200,
    )
    assert sent_ids(sandbox) == sorted(str(10**15 + i) for i in range(1200, 1215))


def test_a_lagging_write_back_table_on_snowflake_never_sends_a_row_twice(
    snowflake: Any, tmp_path: Path, sandbox: SandboxServer
) -> None:
    add_orders(snowflake, range(300))
    p = project(tmp_path, sandbox)
    run(p)
    snowflake.cursor().execute(
        "DELETE FROM ANALYTICS.capisync_wb.capisync_settled WHERE identifier LIKE '%7'"
    )
    sandbox.reset()
    lagging = run(p)
    assert sent_ids(sandbox) == [] and lagging.counts["already"] == 300
    assert lagging.counted_in_warehouse == 270  # 30 rows left the database, found settled
    assert run(p).counted_in_warehouse == 300  # ... and were merged back as they were met
