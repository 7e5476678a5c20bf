"""The machine outputs leak nothing either: a known email, phone and token go through runs
(one failing), and are looked for in every `--json` document and every JSON log line (progress
lines at each batch), `status` of each kind of row, and a reset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxConfig, SandboxServer
from tests.e2e.test_leaks import EMAIL, NEEDLES, PHONE, TOKEN, make_project

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(access_token=TOKEN)) as server:
        yield server


def test_json_documents_and_json_log_lines_hold_no_customer_value_or_token(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAK_TOKEN", TOKEN)
    monkeypatch.setenv("CAPISYNC_PROGRESS_SECONDS", "0")  # a progress line at every batch
    config = str(make_project(tmp_path, sandbox.url))
    written: list[str] = []
    log_lines: list[dict[str, object]] = []

    def cli(*args: str, code: int = 0) -> None:
        result = runner.invoke(app, ["--log-format", "json", *args, "--config", config])
        assert result.exit_code == code, result.output
        written.extend((result.stdout, result.stderr))
        log_lines.extend(json.loads(line) for line in result.stderr.splitlines())
        if "--json" in args and code == 0:
            json.loads(result.stdout)

    sandbox.config.token_expired = True
    try:
        cli("run", "--json", code=5)
    finally:
        sandbox.config.token_expired = False
    sandbox.config.reject_event_ids = {"o-7"}  # a row Meta itself refuses
    try:
        cli("run", "--json")
    finally:
        sandbox.config.reject_event_ids = set()
    cli("check", "--json", "--payloads", "5")
    cli("runs", "--json")
    cli("rejections", "s", "--json")
    for ident in ("o-1", "o-3", "o-5", "o-7", "o-404"):
        cli("status", "s", ident, "--json")
    cli("status", "s", EMAIL, "--json", code=2)
    cli("status", "s", PHONE, code=2)
    cli("reset", "s", "--identifier", "o-1", "--yes")
    cli("run")

    events = {line.get("event") for line in log_lines}
    assert {"progress", "run_finished"} <= events  # the log check proves something
    assert any(line.get("level") == "error" for line in log_lines)  # the failing run's error
    text = "\n".join(written)
    assert "o-5" in text and "o-7" in text  # rejected rows are named, by identifier
    for needle in NEEDLES:
        assert needle.lower() not in text.lower(), f"{needle!r} leaked"
