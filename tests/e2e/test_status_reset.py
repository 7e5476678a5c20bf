"""`capisync status` says what became of one row; `capisync reset` forgets rows so they go
again, asking first, never under a running run, recorded in the history. Real capisync
processes (a real terminal for the confirmation), a real DuckDB file, the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from capisync.sandbox import SandboxServer
from capisync.state import Ledger
from tests.e2e.orders_project import project

EXE = Path(sys.executable).parent / "capisync"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
        stdin=subprocess.DEVNULL,  # not a terminal
    )


def as_json(config: Path, *args: str) -> Any:
    done = cli(config, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ran(config: Path) -> dict[str, Any]:
    doc: dict[str, Any] = as_json(config, "run")["syncs"][0]
    return doc


def test_status_says_sent_rejected_expired_or_unknown(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    before = as_json(config, "status", "a", "o-1")  # no ledger yet: none is made
    assert before["state"] == "unknown" and before["run_id"] is None and before["explanation"]
    assert not (tmp_path / ".capisync").exists()
    run_id = ran(config)["run_id"]

    sent = as_json(config, "status", "a", "o-1")
    assert (sent["state"], sent["run_id"], sent["event_id"]) == ("sent", run_id, "o-1")
    # Meta's trace id of the request that carried it (the sandbox makes one per answer)
    other = as_json(config, "status", "a", "o-20")
    assert sent["fbtrace_id"] and other["fbtrace_id"] and sent["fbtrace_id"] != other["fbtrace_id"]
    assert sent["recorded_at"].endswith("Z") and sent["run"]["status"] == "completed"
    text = cli(config, "status", "a", "o-1").stdout
    assert "event_id o-1" in text and sent["fbtrace_id"] in text and "capisync reset" in text

    rejected = as_json(config, "status", "a", "o-4")
    assert rejected["state"] == "rejected" and rejected["by_meta"] is False
    assert rejected["reasons"] and rejected["reasons"][0]["code"]
    assert "Fix the value in the warehouse" in rejected["explanation"]
    assert as_json(config, "status", "a", "o-7")["state"] == "expired"

    unknown = as_json(config, "status", "a", "o-999")
    assert unknown["state"] == "unknown" and "next run sends it" in unknown["explanation"]


def test_status_refuses_an_email_or_phone_without_repeating_it(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    for personal in ("jane.doe@example.com", "+1 650 555 0199"):
        done = cli(config, "status", "a", personal, "--json")
        assert done.returncode == 2 and done.stdout == ""
        assert "looks like an email address or a phone number" in done.stderr
        assert personal not in done.stderr and "jane" not in done.stderr
        reset = cli(config, "reset", "a", "--identifier", personal, "--yes")
        assert reset.returncode == 2 and personal not in reset.stderr + reset.stdout


def test_reset_of_identifiers_sends_them_again_and_is_in_the_history(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    ran(config)
    done = cli(config, "reset", "a", "--identifier", "o-1", "--identifier", "o-2", "--yes")
    assert done.returncode == 0, done.stderr
    assert "2 rows in the ledger (sent 2)" in done.stdout and "forgot 2 rows" in done.stdout
    assert as_json(config, "status", "a", "o-1")["state"] == "unknown"
    before = len(sandbox.store.events())
    again = ran(config)
    assert (again["counts"]["sent"], again["counts"]["already"]) == (2, 26)
    resent = [e.event["event_id"] for e in sandbox.store.events()[before:]]
    assert sorted(resent) == ["o-1", "o-2"]  # the same event_id as the first time

    history = as_json(config, "runs")["runs"]
    assert [r["status"] for r in history] == ["completed", "reset", "completed"]
    entry = history[1]["reset"]
    assert entry["rows"] == 2 and entry["forgotten"] == {"sent": 2}
    assert entry["identifiers"] == ["o-1", "o-2"]
    assert "reset: forgot 2 rows (sent 2)" in cli(config, "runs").stdout


def test_reset_since_and_all_pick_rows_by_when_they_were_recorded(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    ran(config)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    future = cli(config, "reset", "a", "--since", tomorrow, "--yes")
    assert future.returncode == 0 and "0 rows in the ledger" in future.stdout
    assert "nothing to forget" in future.stdout and "sends them again" not in future.stdout
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    since = cli(config, "reset", "a", "--since", yesterday, "--yes")
    assert "30 rows in the ledger (expired 1, rejected 1, sent 28)" in since.stdout
    assert ran(config)["counts"]["sent"] == 28
    everything = cli(config, "reset", "a", "--all", "--yes")
    assert "every row: 30 rows" in everything.stdout
    bad = cli(config, "reset", "a", "--since", "last tuesday", "--yes")
    assert bad.returncode == 2 and "--since 'last tuesday'" in bad.stderr


def test_reset_refuses_without_a_terminal_two_choices_or_under_a_run(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    ran(config)
    no_tty = cli(config, "reset", "a", "--all")
    assert no_tty.returncode == 2 and "pass --yes" in no_tty.stderr
    both = cli(config, "reset", "a", "--all", "--identifier", "o-1", "--yes")
    assert both.returncode == 2 and "exactly one of" in both.stderr
    ledger = Ledger(str(tmp_path / ".capisync" / "state.db"))
    try:
        assert ledger.try_lock("a", "elsewhere:1:running", time.time()) is None
        locked = cli(config, "reset", "a", "--all", "--yes")
    finally:
        ledger.unlock("a", "elsewhere:1:running")
        ledger.close()
    assert locked.returncode == 4 and "already running" in locked.stderr
    assert as_json(config, "status", "a", "o-1")["state"] == "sent"  # nothing forgotten


def test_a_reset_before_the_first_run_keeps_the_baseline(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """A reset reads no row: it does not count as the sync's history, so a sync with
    first_run: skip_existing still records its baseline on its first real run."""
    config = project(tmp_path, sandbox, extra="    first_run: skip_existing\n")
    assert cli(config, "reset", "a", "--all", "--yes").returncode == 0
    first = ran(config)["counts"]
    assert (first["sent"], first["baseline"]) == (0, 28)


def _on_a_terminal(config: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run `capisync reset` with a pseudo-terminal as stdin and stdout; type `answer`."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [str(EXE), "reset", *args, "--config", str(config)],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=config.parent,
    )
    os.close(child)
    seen = b""
    while b"[y/N]" not in seen:
        chunk = os.read(main, 4096)
        assert chunk, seen
        seen += chunk
    os.write(main, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    return proc.wait(60), seen.decode(errors="replace")


def test_reset_asks_on_a_terminal_showing_how_many_rows(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    ran(config)
    code, text = _on_a_terminal(config, "n", "a", "--all")
    assert code == 0 and "30 rows in the ledger" in text and "nothing was reset" in text
    assert as_json(config, "status", "a", "o-1")["state"] == "sent"
    code, text = _on_a_terminal(config, "y", "a", "--all")
    assert code == 0 and "forgot 30 rows" in text
    assert as_json(config, "status", "a", "o-1")["state"] == "unknown"


def test_an_identifier_that_is_not_utf8_is_refused_as_bad_input(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # bytes from a terminal or a file in another encoding (0xff is no UTF-8): a clear error
    # naming the argument, exit 2; it was an uncaught UnicodeEncodeError from the ledger
    config = project(tmp_path, sandbox)
    ran(config)
    not_utf8 = os.fsdecode(b"o-\xff")
    status = ("status", "a", not_utf8, "--json")
    for args in (status, ("reset", "a", "--identifier", not_utf8, "--yes")):
        done = cli(config, *args)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert "not UTF-8" in done.stderr and "Traceback" not in done.stderr
    assert as_json(config, "status", "a", "o-1")["state"] == "sent"  # nothing forgotten
