"""What a user sees when things go wrong: clear messages, the right exit code, nothing leaked."""

from __future__ import annotations

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
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxServer

runner = CliRunner()
EXE = str(Path(sys.executable).parent / "capisync")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def project(root: Path, base_url: str, model: str, extra: str = "", rows: int = 20) -> Path:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute(f"""CREATE OR REPLACE TABLE t AS SELECT 'o-' || range AS order_id,
            'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'physical_store' AS action_source, 'user' || range || '@example.com' AS email,
            10.0 AS value, 'USD' AS currency FROM range({rows})""")
    config = root / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: {model}
    identifier: order_id
    destination: {{dataset_id: "5", access_token: sandbox-token, base_url: "{base_url}"}}
{extra}""")
    return config


def test_a_failing_cast_never_shows_or_stores_the_value(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox.url, "select *, cast(email as int) as n from t")
    for command in (["check", "--offline"], ["run"]):
        result = runner.invoke(app, [*command, "--config", str(config)])
        assert result.exit_code == 6, result.output
        assert "the model failed in DuckDB" in result.output
        assert "@example.com" not in result.output
    stored = "\n".join(sqlite3.connect(tmp_path / ".capisync" / "state.db").iterdump())
    assert "@example.com" not in stored
    history = runner.invoke(app, ["runs", "--config", str(config)])
    assert "failed" in history.output and "running" not in history.output


def test_an_unusable_ledger_path_is_a_clear_error(tmp_path: Path, sandbox: SandboxServer) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = project(tmp_path, sandbox.url, "select * from t")
    config.write_text(f"state: {{path: {blocker}/state.db}}\n" + config.read_text())
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 3 and "cannot create the ledger folder" in result.output
    assert "Traceback" not in result.output


def test_mapping_errors_name_the_file_and_sync_and_leave_no_running_record(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # a parameter name is checked with the file, before a run starts
    config = project(tmp_path, sandbox.url, "select * from t", "    mapping: {emial: email}")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{config}: invalid configuration: - syncs.s.mapping: unknown parameter 'emial'" in (
        " ".join(result.output.split())
    )
    assert not (tmp_path / ".capisync" / "state.db").exists()
    # a column needs the model: the run starts, and fails
    config = project(tmp_path, sandbox.url, "select * from t", "    mapping: {em: emial}")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{config}: syncs.s: parameter 'em' is mapped to column 'emial'" in (
        " ".join(result.output.split())
    )
    runs = (
        sqlite3.connect(tmp_path / ".capisync" / "state.db")
        .execute("select status from capisync_runs")
        .fetchall()
    )
    assert runs == [("failed",)]


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("    default_country: xx", "syncs.s.default_country: 'xx' is not a country"),
        ("    mapping: {em: email}\n    mapping: {ph: email}", "the key 'mapping' is given twice"),
    ],
)
def test_config_mistakes_exit_2(
    tmp_path: Path, sandbox: SandboxServer, extra: str, expected: str
) -> None:
    config = project(tmp_path, sandbox.url, "select * from t", extra)
    result = runner.invoke(app, ["check", "--offline", "--config", str(config)])
    assert result.exit_code == 2 and expected in " ".join(result.output.split())


def test_check_reports_repeated_identifiers_and_empty_models(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox.url, "select * replace ('same' as order_id) from t")
    result = runner.invoke(app, ["check", "--offline", "--config", str(config)])
    assert result.exit_code == 0 and "duplicate_identifier x19" in result.output
    config = project(tmp_path, sandbox.url, "select * from t where false")
    result = runner.invoke(app, ["check", "--offline", "--config", str(config)])
    assert "the model returned no rows" in result.output


def test_ctrl_c_lets_batches_in_flight_land_and_records_them(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.store.reset()
    sandbox.config.latency_ms = 300
    try:
        config = project(
            tmp_path,
            sandbox.url,
            "select * from t order by order_id",
            "    delivery: {batch_size: 100, concurrency: 4}",
            rows=3000,
        )
        proc = subprocess.Popen(
            [EXE, "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(sandbox.store.events()) < 400:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        sandbox.config.latency_ms = 0
    assert proc.returncode == 130, out + err
    assert "stopped by the user" in out + err
    received = len(sandbox.store.events())
    db = sqlite3.connect(tmp_path / ".capisync" / "state.db")
    sent = db.execute("select count(*) from capisync_ledger where state = 'sent'").fetchone()[0]
    assert sent == received  # every acknowledged batch was recorded before stopping
    assert db.execute("select status from capisync_runs").fetchall() == [("interrupted",)]
    again = subprocess.run(
        [EXE, "run", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0
    ids = Counter(e.event["event_id"] for e in sandbox.store.events())
    assert len(ids) == 3000 and set(ids.values()) == {1}  # nothing lost, nothing doubled
    assert os.path.exists(tmp_path / ".capisync" / "state.db")


def test_history_needs_no_destination_secrets(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = project(tmp_path, sandbox.url, "select * from t")
    config.write_text(config.read_text().replace("sandbox-token", '"${NOT_SET_TOKEN}"'))
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_TOKEN"}
    result = runner.invoke(app, ["runs", "--config", str(config)], env=env)
    assert result.exit_code == 0 and "no runs yet" in result.output
    assert runner.invoke(app, ["rejections", "s", "--config", str(config)], env=env).exit_code == 0
    unknown = runner.invoke(app, ["rejections", "x", "--config", str(config)], env=env)
    assert unknown.exit_code == 2 and "no sync named 'x'" in unknown.output
    run = runner.invoke(app, ["run", "--config", str(config)], env=env)
    assert run.exit_code == 2 and "NOT_SET_TOKEN is not set" in run.output


def test_customer_information_never_becomes_an_identifier_or_event_id(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """Identifiers are stored as they are and event_ids reach Meta as they are: a column of
    customer information in either is a configuration error, whatever else is set."""
    config = project(tmp_path, sandbox.url, "select * from t")
    base = config.read_text()
    identifier = "identifier column 'email' holds customer information"
    cases = [
        ("identifier: email", identifier),
        ("identifier: email\n    event_id: '{order_id}'", identifier),
        ("identifier: order_id\n    event_id: 'lead-{email}'", "event_id: 'lead-{email}' reads"),
        ("identifier: order_id\n    mapping: {event_id: email}", "'event_id' is mapped to"),
    ]
    for setting, fragment in cases:
        config.write_text(base.replace("identifier: order_id", setting))
        result = runner.invoke(app, ["run", "--config", str(config)])
        output = " ".join(result.output.split())
        assert result.exit_code == 2, output
        assert fragment in output and "order_id" in output  # says why, suggests a column
        assert "@example.com" not in output
    safe = "identifier: order_id\n    event_id: '{event_name}:{order_id}'"
    config.write_text(base.replace("identifier: order_id", safe))
    assert runner.invoke(app, ["run", "--config", str(config)]).exit_code == 0
    stored = "\n".join(sqlite3.connect(tmp_path / ".capisync" / "state.db").iterdump())
    assert "@example.com" not in stored and "o-1" in stored


def test_rows_whose_identifier_or_event_id_holds_an_email_are_neither_sent_nor_stored(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """A 'ref' column (no personal name, mapped to nothing personal) that holds emails for some
    rows, twice each: those rows are rejected, never under their identifier, nowhere shown."""
    model = (
        "select case when n % 4 = 0 then 'Buyer' || (n // 8) || '@Example.com' "
        "else order_id end as order_id, event_name, event_time, action_source, email, value, "
        "currency, case when n % 4 = 1 then 'lead-' || email else 'ref-' || order_id end as ref "
        "from (select *, cast(substr(order_id, 3) as int) as n from t)"
    )
    extra = "    event_id: '{event_name}:{ref}'\n"
    config = project(tmp_path, sandbox.url, model, extra=extra, rows=20)
    result = runner.invoke(app, ["run", "--config", str(config)])
    output = " ".join(result.output.split())
    assert result.exit_code in (0, 1), output
    assert "identifier_personal_data" in output and "event_id_personal_data" in output
    assert "@example.com" not in output.lower()
    stored = "\n".join(sqlite3.connect(tmp_path / ".capisync" / "state.db").iterdump())
    assert "@example.com" not in stored.lower()
    assert "o-2" in stored and "o-1'" in stored  # o-1: its event_id was refused, stored by id
