"""The `capisync` command, as a user types it: every command, exit codes, clear errors."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from capisync.capi import versions
from capisync.cli import app
from capisync.demo import DEMO_EXPECTED
from capisync.sandbox import SandboxServer

runner = CliRunner()


VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAPISYNC_BASE_URL", sandbox.url)
    result = runner.invoke(app, ["init", "."])
    assert result.exit_code == 0, result.output
    return tmp_path


def numbers(output: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\b\d[\d,]*\b", output)]


def test_version_says_whether_the_core_runs_compiled() -> None:
    from capisync.capi import is_compiled

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    core = "compiled" if is_compiled() else "interpreted, not compiled at install"
    assert result.output.strip() == f"capisync 0.1.0 (core {core})"


def test_every_command_has_help_with_an_example() -> None:
    commands = ["init", "check", "run", "runs", "rejections", "sandbox", "quickstart"]
    for command in commands:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
        assert "Example: capisync" in result.output, command
    top = runner.invoke(app, ["--help"]).output
    assert all(c in top for c in commands)


def test_init_refuses_to_overwrite(project: Path) -> None:
    result = runner.invoke(app, ["init", "."])
    assert result.exit_code == 2 and "already exists" in result.output


def test_check_shows_mapping_sample_payloads_and_connection(project: Path) -> None:
    result = runner.invoke(app, ["check", "purchases"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "resolved mapping" in out and "column user_agent" in out
    assert "would send" in out and "no_customer_keys" in out
    assert re.search(r'"em": \[?\s*"[0-9a-f]{64}"', out)
    assert "connection: ok" in out
    assert f"api_version {VERSION} is current" in out  # the default: the newest on today's date
    # unhashed identifiers are masked: terminal output ends up in orchestrator logs
    assert '"client_ip_address": "<sent as is, not shown>"' in out
    assert "203.0.113." not in out


def test_check_reports_a_bad_token_with_metas_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("META_ACCESS_TOKEN", "wrong-token")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 5  # Meta refused the token: a person must renew it
    assert "FAILED" in result.output and "wrong-token" not in result.output


def test_run_prints_a_summary_then_runs_lists_history(
    project: Path, sandbox: SandboxServer
) -> None:
    sandbox.store.reset()
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    row = re.search(r"│\s*300\s*│.*", result.output)
    assert row is not None
    read, already, baseline, sent, rejected, duplicate, expired, pending = numbers(row.group(0))
    assert (read, already, baseline, sent, rejected, duplicate, expired, pending) == (
        300,
        0,
        0,
        DEMO_EXPECTED["sent"],
        DEMO_EXPECTED["rejected"],
        0,
        DEMO_EXPECTED["expired"],
        0,
    )
    assert "purchase_missing_value_or_currency" in result.output
    assert len(sandbox.store.events()) == DEMO_EXPECTED["sent"]

    again = runner.invoke(app, ["run", "purchases"])
    assert again.exit_code == 0
    history = runner.invoke(app, ["runs"])
    assert history.exit_code == 0 and history.output.count("completed") == 2
    rejections = runner.invoke(app, ["rejections", "purchases"])
    assert rejections.exit_code == 0
    assert "no_customer_keys  3 rows: ord-10005, ord-10105, ord-10205" in rejections.output


def test_dry_run_and_test_event_code(project: Path, sandbox: SandboxServer) -> None:
    sandbox.store.reset()
    dry = runner.invoke(app, ["run", "--dry-run"])
    assert dry.exit_code == 0 and "would send" in dry.output and sandbox.store.events() == []
    sent = runner.invoke(app, ["run", "--test-event-code", "TEST777"])
    assert sent.exit_code == 0
    assert {e.test_event_code for e in sandbox.store.events()} == {"TEST777"}


def test_failed_run_exits_non_zero(project: Path, sandbox: SandboxServer) -> None:
    sandbox.config.token_expired = True
    try:
        result = runner.invoke(app, ["run"])
    finally:
        sandbox.config.token_expired = False
    assert result.exit_code == 5 and "run stopped" in result.output


def test_broken_config_is_a_clear_error_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "syncs:\n  p:\n    source: {duckdb: w.duckdb}\n    model: select 1\n"
        "    identifier: id\n    mappings: {}\n    destination: {dataset_id: x}\n"
    )
    result = runner.invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2
    out = result.output
    assert str(bad) in out and "syncs.p.mappings" in out and "did you mean 'mapping'" in out
    assert "syncs.p.destination.access_token: required" in out
    assert "Traceback" not in out


def test_unknown_column_in_mapping_is_a_clear_error(project: Path) -> None:
    config = project / "capisync.yml"
    config.write_text(
        config.read_text().replace("client_user_agent: user_agent", "client_user_agent: user_agnt")
    )
    result = runner.invoke(app, ["check", "--offline"])
    assert result.exit_code == 2 and "user_agnt" in result.output


def test_unknown_sync_name(project: Path) -> None:
    result = runner.invoke(app, ["run", "leads"])
    assert result.exit_code == 2 and "no sync named 'leads'" in result.output


def test_unreachable_warehouse(project: Path) -> None:
    (project / "warehouse.duckdb").unlink()
    result = runner.invoke(app, ["run"])
    assert result.exit_code != 0 and "DuckDB file not found" in result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sandbox_command_serves_the_graph_api(tmp_path: Path) -> None:
    port = free_port()
    exe = Path(sys.executable).parent / "capisync"
    proc = subprocess.Popen(
        [str(exe), "sandbox", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/{VERSION}/123/events",
                    json={"data": [], "access_token": "wrong"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
        assert answer.json()["error"]["code"] == 190
    finally:
        proc.terminate()
        proc.wait(10)


def test_quickstart_runs_end_to_end(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "capisync"
    env = {k: v for k, v in os.environ.items() if k != "CAPISYNC_BASE_URL"}
    done = subprocess.run(
        [str(exe), "quickstart", str(tmp_path / "qs")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("completed") == 3
    assert "What the sandbox received" in done.stdout
    assert f"{DEMO_EXPECTED['sent'] + 1} events" in done.stdout
    assert "203.0.113." not in done.stdout and "@" not in done.stdout.split("sandbox received")[1]
