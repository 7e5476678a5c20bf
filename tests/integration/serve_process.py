"""A real `capisync serve` process for tests: started on a free port, its log collected.

with ServeProcess(config) as serve:             # waits until it listens
    serve.client().post("/api/syncs/purchases/runs")
    serve.stop(signal.SIGTERM)                  # -> its exit code
    serve.log                                   # everything it printed
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from capisync.demo import write_demo_project

EXE = str(Path(sys.executable).parent / "capisync")
TOKEN = "serve-test-token-9f3a"
_LISTENING = re.compile(r"capisync serve on (http://\S+?):? syncs")


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


class ServeProcess:
    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [EXE, "serve", "-c", str(config), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "CAPISYNC_API_TOKEN": TOKEN, **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        wait_for(lambda: self._listening() or self.proc.poll() is not None, 30, "serve to listen")
        assert self.url, f"serve did not start:\n{self.log}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _listening(self) -> bool:
        for line in list(self.lines):
            found = _LISTENING.search(line)
            if found:
                self.url = found[1]
                return True
        return False

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def start_run(self, sync: str) -> int:
        with self.client() as c:
            answer = c.post(f"/api/syncs/{sync}/runs")
        assert answer.status_code == 202, answer.text
        run_id: int = answer.json()["run_id"]
        return run_id

    def wait_run(self, run_id: int, timeout: float = 60.0) -> dict[str, Any]:
        """Poll GET /api/runs/{id} until the run is no longer running; its last answer."""
        seen: dict[str, Any] = {}

        def ended() -> bool:
            with self.client() as c:
                answer = c.get(f"/api/runs/{run_id}")
            assert answer.status_code == 200, answer.text
            seen.update(answer.json())
            return seen["status"] != "running"

        wait_for(ended, timeout, f"run {run_id} to end")
        return seen

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def demo_project(root: Path, sandbox_url: str, *, schedule: str | None = None) -> Path:
    """The demo project (300 orders) sending to `sandbox_url`, with serve.token set."""
    project = write_demo_project(root)
    text = project.config.read_text()
    text = text.replace("${CAPISYNC_BASE_URL:-http://127.0.0.1:8765}", sandbox_url)
    if schedule:
        text += f"    schedule: {schedule}\n"
    text += "serve:\n  token: ${CAPISYNC_API_TOKEN}\n"
    project.config.write_text(text)
    return project.config


def ledger_rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    file = root / ".capisync" / "state.db"
    if not file.exists():
        return []
    db = sqlite3.connect(file)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # a table not created yet
        return []
    finally:
        db.close()
