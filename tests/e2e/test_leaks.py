"""Customer data and tokens never leave capisync unhashed: a known email, phone and token go
through real runs (a real DuckDB file, the sandbox over HTTP), including a rejected row, a
dropped value and failing runs, and are looked for in everything capisync writes: the
terminal, the logs (every logger at DEBUG), and the ledger (every table, and the raw bytes of
the SQLite file and its -wal)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxConfig, SandboxServer

EMAIL = "Leak.Canary@Example.com"
BAD_EMAIL = "leak.other@@example"  # malformed: dropped from its event with a warning
PHONE = "+1 (650) 555-0199"
TOKEN = "tok-CANARY-7f3a9c2e51"
# every form a leak could take: as given, normalized (what is hashed), and pieces of it
NEEDLES = (
    EMAIL,
    EMAIL.lower(),
    "leak.canary",
    BAD_EMAIL,
    "leak.other",
    PHONE,
    "6505550199",
    "16505550199",
    "650) 555",
    TOKEN,
    "CANARY-7f3a",
)
runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(access_token=TOKEN)) as server:
        yield server


def make_project(root: Path, base_url: str) -> Path:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute(f"""CREATE TABLE t AS SELECT 'o-' || range AS order_id,
            'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'physical_store' AS action_source,
            CASE WHEN range = 3 THEN '{BAD_EMAIL}' ELSE '{EMAIL}' END AS email,
            '{PHONE}' AS phone, 10.0 AS value,
            CASE WHEN range = 5 THEN NULL ELSE 'USD' END AS currency  -- o-5: rejected
            FROM range(40)""")
    config = root / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    destination: {{dataset_id: "5", access_token: "${{LEAK_TOKEN}}", base_url: "{base_url}"}}
    delivery: {{batch_size: 10, concurrency: 2}}
""")
    return config


def everything_written(root: Path, outputs: list[str], logs: list[str]) -> dict[str, str]:
    """What a person, a log collector or a backup of the ledger would see."""
    state = root / ".capisync"
    db = sqlite3.connect(state / "state.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    seen = {"terminal": "\n".join(outputs), "logs": "\n".join(logs), "ledger tables": dump}
    # state.db, a -wal or -shm if one is left, and the settled copy (state-settled/*.duckdb)
    for file in sorted(f for f in state.rglob("*") if f.is_file()):
        seen[f"raw bytes of {file.relative_to(state)}"] = file.read_bytes().decode("latin-1")
    assert any(f.suffix == ".duckdb" for f in state.rglob("*")), "no settled copy was looked at"
    return seen


def test_no_email_phone_or_token_is_written_anywhere(
    tmp_path: Path,
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's included
    monkeypatch.setenv("LEAK_TOKEN", TOKEN)
    config = str(make_project(tmp_path, sandbox.url))
    outputs: list[str] = []

    def cli(*args: str) -> int:
        result = runner.invoke(app, [*args, "--config", config])
        outputs.append(result.output)
        return result.exit_code

    sandbox.config.token_expired = True  # a failing run: Meta refuses the token (code 190)
    try:
        assert cli("run") != 0
    finally:
        sandbox.config.token_expired = False
    assert cli("check", "--payloads", "5") == 0
    sandbox.config.reject_event_ids = {"o-7"}  # a row Meta itself refuses, bisected out
    try:
        assert cli("run") == 0
    finally:
        sandbox.config.reject_event_ids = set()
    assert cli("run", "--test-event-code", "TEST1", "--limit", "3") == 0
    assert cli("runs") == 0 and cli("rejections", "s") == 0
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # a failing model
        con.execute(
            f"INSERT INTO t SELECT 'o-x', 'Purchase', now(), 'physical_store', "
            f"'{EMAIL}', '{PHONE}', 1.0, 'USD'"
        )
    project = Path(config)
    project.write_text(
        project.read_text().replace("select * from t", "select *, cast(email as int) n from t")
    )
    assert cli("run") != 0

    received = sandbox.store.events()
    assert len(received) >= 38  # the canaries did go through, hashed
    assert "o-5" in "".join(outputs) and "o-7" in "".join(outputs)  # the rejected rows shown
    logs = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    assert logs, "nothing was logged: the log check would prove nothing"
    for where, text in everything_written(tmp_path, outputs, logs).items():
        for needle in NEEDLES:
            assert needle.lower() not in text.lower(), f"{needle!r} leaked into {where}"
