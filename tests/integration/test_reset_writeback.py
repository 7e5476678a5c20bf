"""A reset of a sync with a write-back table (a real PostgreSQL model): the rows leave the
table too, so the anti-join reads them again and the next run sends them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from capisync.config import Project, load_project
from capisync.resend import reset
from capisync.sandbox import SandboxServer
from capisync.state import RowChoice
from capisync.sync import run_sync


def _sql(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"machine_wb_{uuid.uuid4().hex[:8]}"  # its own: other test runs share the database
    yield name
    _sql(pg_url, f"DROP SCHEMA IF EXISTS {name} CASCADE")


def _project(
    root: Path, sandbox: SandboxServer, url: str, schema: str, *, pg_ledger: bool = False
) -> Project:
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    _sql(
        url,
        "CREATE TABLE t AS SELECT 'o-' || i AS order_id, "
        f"TIMESTAMP '{naive}' - INTERVAL '1 hour' AS event_time, "
        "'physical_store' AS action_source, 'Purchase' AS event_name, "
        "'jane@example.com' AS email, 12.5 AS value, 'USD' AS currency "
        "FROM generate_series(1, 40) AS i",
    )
    state = f'state: {{url: "{url}"}}' if pg_ledger else ""
    config = root / "capisync.yml"
    config.write_text(f"""
{state}
syncs:
  s:
    source: {{url: "{url}"}}
    model: select * from t
    identifier: order_id
    writeback: {{schema: {schema}}}
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
""")
    return load_project(config, env=dict(os.environ))


@pytest.mark.parametrize("pg_ledger", [False, True], ids=["sqlite-ledger", "postgresql-ledger"])
def test_reset_forgets_rows_in_the_write_back_table_too(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str, schema: str, pg_ledger: bool
) -> None:
    project = _project(tmp_path, sandbox, pg_url, schema, pg_ledger=pg_ledger)
    assert run_sync(project, "s").counts["sent"] == 40
    second = run_sync(project, "s")  # the write-back table now narrows the read
    assert second.counted_in_warehouse == 40 and second.counts["sent"] == 0

    done = reset(project, "s", RowChoice(identifiers=("o-3", "o-4")), confirm=lambda _: True)
    assert done is not None and done.writeback_rows == 2 and done.forgotten == {"sent": 2}
    table = f"{schema}.capisync_settled"
    assert _sql(pg_url, f"SELECT count(*) FROM {table}") == [(38,)]
    sandbox.reset()
    third = run_sync(project, "s")
    assert third.counts["sent"] == 2 and third.counted_in_warehouse == 38
    assert sorted(e.event["event_id"] for e in sandbox.store.events()) == ["o-3", "o-4"]

    everything = reset(project, "s", RowChoice(everything=True), confirm=lambda _: True)
    assert everything is not None and everything.writeback_rows == 40
    assert run_sync(project, "s").counts["sent"] == 40


def test_an_unconfirmed_reset_changes_nothing(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str, schema: str
) -> None:
    project = _project(tmp_path, sandbox, pg_url, schema)
    run_sync(project, "s")
    asked: list[dict[str, int]] = []
    refused = reset(
        project, "s", RowChoice(everything=True), confirm=lambda n: asked.append(n) is not None
    )
    assert refused is None and asked == [{"sent": 40}]
    assert _sql(pg_url, f"SELECT count(*) FROM {schema}.capisync_settled") == [(40,)]
    assert run_sync(project, "s").counts["already"] == 40
