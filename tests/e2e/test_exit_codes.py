"""Every row of the exit-code table (docs/exit-codes.md), end to end through the CLI, and one
failing sync never stopping the others: the command exits with the worst code."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

import capisync.sync
from capisync.cli import app
from capisync.errors import EXIT_CODES, is_retryable, worst_exit_code
from capisync.sandbox import SandboxServer

runner = CliRunner()
EMAIL = "user0@example.com"
UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/test"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(autouse=True)
def clean(sandbox: SandboxServer) -> None:
    sandbox.reset()


def sync_block(name: str, base_url: str, *, model: str = "select * from t", extra: str = "") -> str:
    return f"""  {name}:
    source: {{duckdb: w.duckdb}}
    model: {model}
    identifier: order_id
    destination: {{dataset_id: "{abs(hash(name)) % 10**9}", access_token: sandbox-token,
                   base_url: "{base_url}"}}
{extra}"""


def write_project(root: Path, *blocks: str, state: str = "", rows: int = 20) -> Path:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute(f"""CREATE OR REPLACE TABLE t AS SELECT 'o-' || range AS order_id,
            'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'physical_store' AS action_source, 'user' || range || '@example.com' AS email,
            10.0 AS value, 'USD' AS currency FROM range({rows})""")
    config = root / "capisync.yml"
    config.write_text(state + "syncs:\n" + "".join(blocks))
    return config


def received(sandbox: SandboxServer, name: str) -> int:
    return len(sandbox.store.events(str(abs(hash(name)) % 10**9)))


def invoke(config: Path, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--config", str(config)])
    assert "Traceback" not in result.output
    assert EMAIL not in result.output  # no customer value, whatever failed
    return result


def test_the_table_orders_every_code_and_says_which_ones_to_retry() -> None:
    codes = [row.code for row in EXIT_CODES]
    assert len(set(codes)) == len(codes)
    assert {c for c in codes if is_retryable(c)} == {0, 4, 75}
    assert worst_exit_code([0, 4, 75, 6]) == 6  # a person must act beats try-again-later
    assert worst_exit_code([0, 4, 75]) == 75
    assert worst_exit_code([0, 4]) == 4
    assert worst_exit_code([6, 5, 2, 3]) == 3
    assert worst_exit_code([0, 130]) == 130 and worst_exit_code([]) == 0


def test_0_every_sync_completed(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = write_project(tmp_path, sync_block("a", sandbox.url), sync_block("b", sandbox.url))
    assert invoke(config, "run").exit_code == 0
    assert received(sandbox, "a") == received(sandbox, "b") == 20


def test_a_broken_sync_listed_first_does_not_stop_the_good_one(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "broken.sql").write_text(
        "-- orders, with a typo\nselect order_id,\n  event_name,\n  emial\nfrom t\n"
    )
    config = write_project(
        tmp_path,
        sync_block("broken", sandbox.url, model="models/broken.sql"),
        sync_block("good", sandbox.url),
    )
    for command in (["check", "--offline"], ["run"]):
        result = invoke(config, *command)
        assert result.exit_code == 6, result.output
        text = " ".join(result.output.split())
        assert "sync 'broken': the model failed in DuckDB" in text
        assert 'column "emial"' in text and "(models/broken.sql, line 4)" in text
        assert "LINE" not in text and "capisync_model" not in text
        assert "syncs: broken exit 6, good ok; exit 6 (a person must act)" in text
    assert received(sandbox, "good") == 20


def test_1_a_bug_in_one_sync_is_reported_without_its_message_and_the_others_run(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = capisync.sync.run_sync

    def buggy(project: Any, name: str, **kw: Any) -> Any:
        if name == "bug":
            raise ValueError(f"cannot parse {EMAIL}")
        return real(project, name, **kw)

    monkeypatch.setattr(capisync.sync, "run_sync", buggy)
    config = write_project(tmp_path, sync_block("bug", sandbox.url), sync_block("ok", sandbox.url))
    result = invoke(config, "run")
    assert result.exit_code == 1
    assert "sync 'bug': unexpected ValueError at test_exit_codes.py" in result.output
    assert received(sandbox, "ok") == 20


def test_2_a_mapping_error(tmp_path: Path, sandbox: SandboxServer) -> None:
    # the project file is validated whole, at the edge, before any sync runs (dbt refuses a
    # project that does not parse, too): every problem is listed, nothing is half-run
    config = write_project(
        tmp_path,
        sync_block("typo", sandbox.url, extra="    mapping: {emial: email}\n"),
        sync_block("ok", sandbox.url),
    )
    result = invoke(config, "run")
    assert result.exit_code == 2 and "syncs.typo.mapping" in result.output
    assert received(sandbox, "ok") == 0


def test_3_a_ledger_that_cannot_be_written(tmp_path: Path, sandbox: SandboxServer) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = write_project(
        tmp_path, sync_block("a", sandbox.url), state=f"state: {{path: {blocker}/state.db}}\n"
    )
    result = invoke(config, "run")
    assert result.exit_code == 3 and "cannot create the ledger folder" in result.output


def test_5_meta_refuses_the_token(tmp_path: Path, sandbox: SandboxServer) -> None:
    sandbox.config.token_expired = True
    config = write_project(tmp_path, sync_block("a", sandbox.url))
    assert invoke(config, "run").exit_code == 5
    result = invoke(config, "check")
    assert result.exit_code == 5 and "FAILED" in result.output


def test_6_the_model_fails_on_a_value(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = write_project(
        tmp_path, sync_block("a", sandbox.url, model="select *, cast(email as int) as n from t")
    )
    result = invoke(config, "run")
    assert result.exit_code == 6 and "Could not convert string '…' to INT32" in result.output


@pytest.mark.parametrize(
    "fault, delivery",
    [
        ({"error_rate": 1.0}, "{max_attempts: 2}"),  # Meta down: 5xx past the retries
        ({"throttle_after": 0}, "{max_retry_seconds: 1}"),  # throttled past the budget
    ],
)
def test_75_meta_unavailable_or_throttled_past_the_retry_budget(
    tmp_path: Path, sandbox: SandboxServer, fault: dict[str, Any], delivery: str
) -> None:
    for key, value in fault.items():
        setattr(sandbox.config, key, value)
    config = write_project(
        tmp_path, sync_block("a", sandbox.url, extra=f"    delivery: {delivery}\n")
    )
    result = invoke(config, "run")
    assert result.exit_code == 75, result.output
    assert "pending" in result.output


def test_75_the_warehouse_cannot_be_reached(tmp_path: Path, sandbox: SandboxServer) -> None:
    block = sync_block("a", sandbox.url).replace(
        "source: {duckdb: w.duckdb}", f'source: {{url: "{UNREACHABLE_PG}"}}'
    )
    config = write_project(tmp_path, block, sync_block("b", sandbox.url))
    for command in (["check", "--offline"], ["run"]):
        result = invoke(config, *command)
        assert result.exit_code == 75, result.output
        assert "cannot connect to the warehouse" in result.output
        assert "exit 75 (try again later)" in " ".join(result.output.split())


def test_75_the_ledger_server_cannot_be_reached(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = write_project(
        tmp_path, sync_block("a", sandbox.url), state=f'state: {{url: "{UNREACHABLE_PG}"}}\n'
    )
    result = invoke(config, "run")
    assert result.exit_code == 75 and "try again later" in result.output


def test_75_the_ledger_file_is_busy_past_the_timeout(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = write_project(tmp_path, sync_block("a", sandbox.url))
    assert invoke(config, "run").exit_code == 0  # creates the ledger
    blocker = sqlite3.connect(tmp_path / ".capisync" / "state.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer, longer than the 10 s busy timeout
    try:
        result = invoke(config, "run")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result.exit_code == 75, result.output
    assert "database is locked" in result.output


HOLD = """
import sys, time
from capisync.state import Ledger
ledger = Ledger(sys.argv[1])
assert ledger.try_lock("a", "other-box:77:feed", time.time()) is None
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("ledger", ["sqlite", "postgres"])
def test_4_already_running_and_on_locked_wait_queues(
    tmp_path: Path, sandbox: SandboxServer, request: pytest.FixtureRequest, ledger: str
) -> None:
    if ledger == "sqlite":
        state, location = "", str(tmp_path / ".capisync" / "state.db")
    else:
        location = request.getfixturevalue("pg_url")
        state = f'state: {{url: "{location}"}}\n'
    config = write_project(tmp_path, sync_block("a", sandbox.url), state=state)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, location], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    try:
        result = invoke(config, "run")
        assert result.exit_code == 4
        text = " ".join(result.output.split())
        assert "sync 'a' is already running (held by other-box:77:feed since" in text
        config.write_text(
            config.read_text().replace("identifier:", "on_locked: wait\n    identifier:")
        )
        threading.Timer(1.5, lambda: os.kill(holder.pid, 9)).start()
        started = time.monotonic()
        waited = invoke(config, "run")
        assert waited.exit_code == 0, waited.output
        assert time.monotonic() - started >= 1.0 and received(sandbox, "a") == 20
    finally:
        holder.kill()
        holder.wait()
