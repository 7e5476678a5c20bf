"""The README's "Using it on your data" block, pasted into a shell, works: `capisync sandbox &`
then at once `capisync check` and `capisync run` (they wait briefly for a local sandbox)."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capisync import reachability
from capisync.cli import app
from capisync.demo import DEMO_EXPECTED
from capisync.errors import MetaTransientError

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def readme_block() -> str:
    """The shell block under "## Using it on your data", as written."""
    section = README.read_text(encoding="utf-8").split("## Using it on your data", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


def shell(script: str, cwd: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["CAPISYNC_BASE_URL"] = f"http://127.0.0.1:{port}"  # the project's base_url
    env.pop("CAPISYNC_CONFIG", None)
    return subprocess.run(
        ["bash", "-c", "set -e\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_readme_block_works_when_pasted(tmp_path: Path) -> None:
    block = readme_block()
    assert "capisync sandbox &" in block and "capisync check" in block
    port = free_port()  # 8765 may be taken on a shared machine: the one change made
    lines = [
        line.replace("capisync sandbox &", f"capisync sandbox --port {port} &")
        for line in block.splitlines()
        if not line.startswith("pip install")  # the package under test is installed
    ]
    done = shell("\n".join(lines), tmp_path, port)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "connection: ok" in done.stdout
    assert re.search(rf"│\s*300\s*│\s*0\s*│\s*0\s*│\s*{DEMO_EXPECTED['sent']}\s*│", done.stdout)
    assert "no_customer_keys  3 rows" in done.stdout  # `capisync rejections purchases`


@pytest.mark.parametrize("command", ["check", "run"])
def test_check_and_run_wait_for_a_sandbox_that_is_still_starting(
    tmp_path: Path, command: str
) -> None:
    port = free_port()
    done = shell(
        f"capisync init . >/dev/null\n(sleep 2; exec capisync sandbox --port {port}) &\n"
        f"capisync {command}\n",
        tmp_path,
        port,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"nothing answers at http://127.0.0.1:{port} yet: waiting up to 10 s" in done.stderr
    if command == "check":
        assert "connection: ok" in done.stdout
    else:
        assert "completed" in done.stdout and "nothing is listening" not in out


def test_nothing_listening_fails_clearly_after_the_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    monkeypatch.setenv("CAPISYNC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(reachability, "LOCAL_START_WAIT", 0.5)
    monkeypatch.setattr(reachability, "_gave_up", {})
    assert runner.invoke(app, ["init", "."]).exit_code == 0
    expected = f"nothing is listening at http://127.0.0.1:{port}"
    check = runner.invoke(app, ["check"])
    assert check.exit_code == MetaTransientError.exit_code  # try again later
    assert f"{expected} (waited 0.5 s): if it is the local sandbox, start it first" in (
        " ".join(check.output.split())
    )
    run = runner.invoke(app, ["run"])  # waited for a moment ago: tried once, not again
    assert run.exit_code == MetaTransientError.exit_code and f"{expected}: if it is" in " ".join(
        run.output.split()
    )
    db = sqlite3.connect(tmp_path / ".capisync" / "state.db")
    assert db.execute("select status from capisync_runs").fetchall() == [("failed",)]
    assert db.execute("select count(*) from capisync_ledger").fetchone() == (0,)
    # a dry run sends nothing, so it does not wait
    assert runner.invoke(app, ["run", "--dry-run"]).exit_code == 0
