"""The command in a shell pipeline and the sandbox as a process: a reader that goes away
(`| head`) is not a bug, a taken port says what to do, and every knob the README lists is a
`capisync sandbox` flag that reaches the running sandbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from capisync.capi import versions
from capisync.sandbox import SandboxServer

EXE = Path(sys.executable).parent / "capisync"
VERSION = versions.newest_name(time.time())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def head(args: list[str], lines: int, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """`capisync <args> | head -<lines>`: the exit code and stderr of capisync."""
    proc = subprocess.Popen(
        [str(EXE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    for _ in range(lines):
        proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as head does
    stderr = proc.stderr.read().decode()
    return proc.wait(120), stderr


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def test_a_closed_pipe_ends_quietly_with_the_runs_own_code(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    env = {**os.environ, "CAPISYNC_BASE_URL": sandbox.url}
    subprocess.run([str(EXE), "init", "."], cwd=tmp_path, env=env, check=True, capture_output=True)
    # a run that fails keeps its own code when its reader is gone
    sandbox.config.token_expired = True
    try:
        code, stderr = head(["run"], 1, tmp_path, env)
    finally:
        sandbox.config.token_expired = False
    assert code == 5 and "Traceback" not in stderr, stderr
    sandbox.store.reset()
    code, stderr = head(["run"], 1, tmp_path, env)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr and "error" not in stderr
    assert len(sandbox.store.events()) > 0  # the run went on after its reader left,
    again = subprocess.run([str(EXE), "runs"], cwd=tmp_path, env=env, capture_output=True)
    assert again.returncode == 0 and b"completed" in again.stdout  # and was recorded


def test_quickstart_into_head_ends_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CAPISYNC_BASE_URL"}
    code, stderr = head(["quickstart", str(tmp_path / "qs")], 2, tmp_path, env)
    assert code == 0 and "Traceback" not in stderr and "Broken pipe" not in stderr, stderr


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/config")
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "sandbox did not start"
            time.sleep(0.1)


@pytest.fixture
def sandbox_process() -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*flags: str) -> int:
        port = free_port()
        proc = subprocess.Popen(
            [str(EXE), "sandbox", "--port", str(port), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        wait_for(port)
        return port

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


def post(port: int, dataset: str, event_id: str = "e1", version: str = VERSION) -> httpx.Response:
    event = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "event_id": event_id,
        "action_source": "physical_store",
        "user_data": {"external_id": ["a" * 64]},
        "custom_data": {"value": 1, "currency": "USD"},
    }
    return httpx.post(
        f"http://127.0.0.1:{port}/{version}/{dataset}/events",
        json={"data": [event], "access_token": "sandbox-token"},
    )


def test_datasets_flag_limits_the_datasets_that_exist(sandbox_process) -> None:  # type: ignore[no-untyped-def]
    port = sandbox_process("--datasets", "111,222", "--datasets", "333")
    assert httpx.get(f"http://127.0.0.1:{port}/_sandbox/config").json()["datasets"] == [
        "111",
        "222",
        "333",
    ]
    assert post(port, "333").status_code == 200
    refused = post(port, "444").json()["error"]
    assert (refused["code"], refused["error_subcode"]) == (100, 33)


def test_reject_event_ids_flag_refuses_those_events(sandbox_process) -> None:  # type: ignore[no-untyped-def]
    port = sandbox_process("--reject-event-ids", "bad-1,bad-2")
    assert post(port, "123", event_id="good").status_code == 200
    refused = post(port, "123", event_id="bad-2")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 100


def test_expired_versions_flag_chooses_fail_or_upgrade(sandbox_process) -> None:  # type: ignore[no-untyped-def]
    today = versions.day_of(time.time())
    expired = next(v for v in versions.VERSIONS if v.status(today) == "expired").name
    failing = sandbox_process()
    assert post(failing, "123", version=expired).json()["error"]["code"] == 2635
    upgrading = sandbox_process("--expired-versions", "upgrade")
    assert post(upgrading, "123", version=expired).status_code == 200


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--expired-versions", "maybe"], "--expired-versions: must be one of fail, upgrade"),
        (["--datasets", "12a"], "--datasets: expected numeric ids"),
    ],
)
def test_a_bad_flag_value_is_a_usage_error(flags: list[str], said: str) -> None:
    done = subprocess.run(
        [str(EXE), "sandbox", "--port", str(free_port()), *flags], capture_output=True, text=True
    )
    assert done.returncode == 2 and said in done.stderr, done.stderr


def test_a_port_in_use_says_so_and_exits_2(sandbox_process) -> None:  # type: ignore[no-untyped-def]
    port = sandbox_process()
    done = subprocess.run(
        [str(EXE), "sandbox", "--port", str(port)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert f"port {port} is in use (another sandbox?): pick another with --port" in done.stderr
    assert "Errno" not in done.stderr and "address already in use" not in done.stderr
