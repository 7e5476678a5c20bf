"""Identifiers and event_ids a PostgreSQL ledger cannot store (a NUL character, more than its
columns hold) never reach it: each such row is refused with its own reason, the run
completes, and the next run sends nothing again (no checkpoint failed after Meta took a
batch, so no row is resent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from capisync.capi.outcome import LEDGER_TEXT_CHARS
from capisync.cli import app
from capisync.sandbox import SandboxServer

runner = CliRunner()
DATASET = "777000111"
LONG = "x" * (LEDGER_TEXT_CHARS + 1)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def project(root: Path, sandbox: SandboxServer, pg_url: str) -> Path:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute(f"""CREATE TABLE t AS
            SELECT 'o-' || range AS order_id, 'e-' || range AS event_id FROM range(5)
            UNION ALL SELECT 'nul' || chr(0) || 'id', 'e-nul'
            UNION ALL SELECT '{LONG}', 'e-long'
            UNION ALL SELECT 'o-long-event-id', '{LONG}'""")
    config = root / "capisync.yml"
    config.write_text(f"""state: {{url: "{pg_url}"}}
syncs:
  leads:
    source: {{duckdb: w.duckdb}}
    model: >
      select order_id, event_id, 'Lead' as event_name, now() - interval 1 hour as event_time,
      'system_generated' as action_source, 'u-' || order_id[1:20] as external_id from t
    identifier: order_id
    destination: {{dataset_id: "{DATASET}", access_token: sandbox-token,
                   base_url: "{sandbox.url}"}}
""")
    return config


def test_rows_a_postgresql_ledger_cannot_store_are_refused_before_it(
    tmp_path: Path, sandbox: SandboxServer, pg_url: str
) -> None:
    config = project(tmp_path, sandbox, pg_url)
    first = runner.invoke(app, ["run", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "bug in capisync" not in first.output and "DataError" not in first.output
    sent = sandbox.store.events(DATASET)
    assert sorted(e.event["event_id"] for e in sent) == [f"e-{n}" for n in range(5)]

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(sa.text("select identifier, state from capisync_ledger")).all()
            )
    finally:
        engine.dispose()
    # the row whose event_id is too long is known by its identifier, as rejected; the NUL
    # and the too-long identifier have no ledger key at all
    assert stored == {**{f"o-{n}": "sent" for n in range(5)}, "o-long-event-id": "rejected"}

    rejections = runner.invoke(app, ["rejections", "leads", "--config", str(config)])
    assert rejections.exit_code == 0, rejections.output
    assert "event_id_too_long" in rejections.output

    again = runner.invoke(app, ["run", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert len(sandbox.store.events(DATASET)) == 5  # nothing resent
