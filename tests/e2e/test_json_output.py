"""Output machines read: `--json` on run, check, runs and rejections prints one JSON document
on stdout and nothing else (errors on stderr, the same exit codes), and `--log-format json`
gives JSON lines on stderr, with progress lines when stderr is a log. Real capisync
processes, a real DuckDB file and the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capisync.sandbox import SandboxServer
from capisync.state.schema import END_STATES
from tests.e2e.orders_project import project

EXE = Path(sys.executable).parent / "capisync"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def cli(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
        env={**os.environ, **(env or {})},
    )


def parsed(done: subprocess.CompletedProcess[str]) -> Any:
    """stdout is exactly one JSON document."""
    return json.loads(done.stdout)


def test_run_json_is_one_document_whose_counts_add_up(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox, second=True)
    done = cli(config, "run", "--json")
    assert done.returncode == 5, done.stderr
    doc = parsed(done)
    assert doc["exit_code"] == 5
    a, b = doc["syncs"]
    assert (a["sync"], a["status"], a["exit_code"]) == ("a", "completed", 0)
    assert (b["sync"], b["status"], b["exit_code"]) == ("b", "failed", 5)
    assert b["failure"]["type"] == "MetaFatalError" and b["failure"]["retryable"] is False
    c = a["counts"]
    assert sum(c[k] for k in END_STATES) == c["read"] == 30
    assert (c["sent"], c["rejected"], c["expired"]) == (28, 1, 1)
    assert a["reasons"]["event_time_too_old"] == 1
    assert [r["identifier"] for r in a["rejections"]] == ["o-4"]
    assert a["run_id"] == 1 and a["started_at"].endswith("Z")
    assert "error: sync 'b'" in done.stderr  # the error is said on stderr, as without --json

    again = parsed(cli(config, "run", "a", "--json"))["syncs"][0]
    assert again["counts"]["already"] == 28 and again["counts"]["sent"] == 0


def test_runs_and_rejections_json_read_the_history(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = project(tmp_path, sandbox)
    assert parsed(cli(config, "runs", "--json")) == {"runs": []}  # no ledger yet, none made
    assert not (tmp_path / ".capisync").exists()
    assert parsed(cli(config, "rejections", "a", "--json"))["total"] == 0
    ran = parsed(cli(config, "run", "--json"))["syncs"][0]
    history = parsed(cli(config, "runs", "--json"))["runs"]
    assert len(history) == 1
    (stored,) = history
    for key in ("run_id", "status", "counts", "reasons", "coverage", "started_at"):
        assert stored[key] == ran[key], key
    rejected = parsed(cli(config, "rejections", "a", "--json"))
    assert rejected["total"] == 1
    (group,) = rejected["reasons"]
    assert group["rows"] == 1 and group["examples"] == ["o-4"] and group["message"]


def test_check_json_masks_unhashed_identifiers_and_says_the_exit_code(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox, second=True)
    done = cli(config, "check", "--json", "--payloads", "2")
    assert done.returncode == 5
    doc = parsed(done)
    a, b = doc["syncs"]
    assert a["ok"] is True and a["sample"] == {"read": 30, "sent": 28, "rejected": 1, "expired": 1}
    assert {"parameter": "em", "source": "column email"} in a["mapping"]
    assert len(a["payloads"]) == 2
    assert all("@" not in json.dumps(p) for p in a["payloads"])  # emails hashed
    assert b["ok"] is False and b["exit_code"] == 5 and doc["exit_code"] == 5


def test_a_config_error_leaves_stdout_empty(tmp_path: Path) -> None:
    config = tmp_path / "capisync.yml"
    config.write_text("syncs: {a: {model: select 1}}\n")
    done = cli(config, "run", "--json")
    assert done.returncode == 2 and done.stdout == "" and "identifier" in done.stderr


def test_json_log_lines_show_progress_in_a_log(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = project(tmp_path, sandbox)
    done = cli(config, "--log-format", "json", "run", env={"CAPISYNC_PROGRESS_SECONDS": "0"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    progress = [line for line in lines if line.get("event") == "progress"]
    # one line per update: 6 batches of 5 rows sent (and the rows judged before them)
    assert len(progress) >= 6
    sent = [p["counts"]["sent"] for p in progress]
    assert sent == sorted(sent) and sent[-1] == 28
    assert all(p["sync"] == "a" and p["run_id"] == 1 and p["level"] == "info" for p in progress)
    (end,) = [line for line in lines if line.get("event") == "run_finished"]
    assert end["status"] == "completed" and end["exit_code"] == 0
    assert end["counts"]["sent"] == 28 and end["time"].endswith("Z")
    assert "completed" in done.stdout  # the summary is on stdout as always


def test_the_last_progress_line_of_a_short_run_has_its_final_counts(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # a run shorter than the interval: its first line comes before any batch lands, so the
    # end of the run must log the final counts (a log never ends on a stale "sent 0")
    config = project(tmp_path, sandbox)
    done = cli(config, "--log-format", "json", "run", env={"CAPISYNC_PROGRESS_SECONDS": "3600"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    progress = [line for line in lines if line.get("event") == "progress"]
    assert len(progress) == 2 and progress[0]["counts"]["sent"] < 28
    assert progress[-1]["counts"] == {"read": 30, "sent": 28, "rejected": 1, "expired": 1}
    assert lines.index(progress[-1]) < [line.get("event") for line in lines].index("run_finished")


def test_text_logs_get_progress_lines_too_and_a_bad_format_is_refused(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    done = cli(config, "run", env={"CAPISYNC_PROGRESS_SECONDS": "0"})
    assert done.returncode == 0
    progress = [line for line in done.stderr.splitlines() if "capisync.progress" in line]
    assert progress and "a: read" in progress[-1] and "sent 28" in progress[-1]
    refused = cli(config, "--log-format", "xml", "runs")
    assert refused.returncode == 2 and "--log-format" in refused.stderr


def test_an_unexpected_error_is_one_line_naming_its_type_never_a_traceback(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # a run history entry damaged by hand: reading it fails in a way capisync did not plan
    # for. Like a run's, the error is its type and where (its text may quote a value), in
    # the log format asked for: before, a raw Python traceback broke the JSON lines
    config = project(tmp_path, sandbox)
    assert cli(config, "run").returncode == 0
    ledger = sqlite3.connect(tmp_path / ".capisync" / "state.db")
    with ledger:
        ledger.execute("UPDATE capisync_runs SET details = '{damaged'")
    ledger.close()
    done = cli(config, "--log-format", "json", "runs", "--json")
    assert done.returncode == 1 and done.stdout == ""
    (line,) = [json.loads(text) for text in done.stderr.splitlines()]
    assert line["level"] == "error" and "unexpected JSONDecodeError" in line["message"]
    assert "bug in capisync" in line["message"] and "damaged" not in line["message"]


@pytest.mark.parametrize("every", ["abc", "-1", "nan"])
def test_a_bad_progress_interval_is_a_usage_error_naming_the_variable(
    tmp_path: Path, sandbox: SandboxServer, every: str
) -> None:
    # was an unexpected ValueError ("abc", exit 1) or taken as is (-1, nan)
    config = project(tmp_path, sandbox)
    done = cli(config, "run", "--json", env={"CAPISYNC_PROGRESS_SECONDS": every})
    assert done.returncode == 2 and done.stdout == ""
    assert f"CAPISYNC_PROGRESS_SECONDS={every!r}" in done.stderr
    assert not (tmp_path / ".capisync").exists()  # no sync ran
