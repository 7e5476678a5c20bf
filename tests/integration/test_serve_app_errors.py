"""serve's app over a real socket (uvicorn, in this test's loop): a bug in a route answers
500 JSON, logs its type and place only (no traceback, no message), and keeps the connection;
run ids beyond the ledger's integer answer 400, not a 500 from the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from tests.integration.serve_process import TOKEN, demo_project

from capisync.config import load_project
from capisync.sandbox import SandboxServer
from capisync.serve.app import build_app
from capisync.serve.service import Service
from capisync.state import Ledger

SECRET_VALUE = "jane.doe@example.com"  # what a bug's message might quote: never logged


@contextlib.asynccontextmanager
async def serving(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """build_app(service) served by uvicorn on a free port; a client with the token."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(build_app(service), log_config=None, access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    port = sock.getsockname()[1]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            yield c
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def service(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Service]:
    monkeypatch.setenv("CAPISYNC_API_TOKEN", TOKEN)
    yield Service(load_project(demo_project(tmp_path, sandbox.url)))


def test_a_bug_in_a_route_answers_500_json_without_traceback_or_message(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    @contextlib.contextmanager
    def broken_ledger() -> Iterator[Ledger]:
        raise RuntimeError(f"row of {SECRET_VALUE}")
        yield  # pragma: no cover

    monkeypatch.setattr(service, "ledger", broken_ledger)

    async def scenario() -> list[httpx.Response]:
        async with serving(service) as api:
            # the same connection answers all three: a bug does not drop it
            return [await api.get("/api/syncs") for _ in range(3)]

    with caplog.at_level(logging.INFO):
        answers = asyncio.run(scenario())
    for answer in answers:
        assert answer.status_code == 500, answer.text
        error = answer.json()["error"]
        assert error["code"] == "internal_error"
        assert "RuntimeError" in error["message"] and SECRET_VALUE not in answer.text
    assert "RuntimeError" in caplog.text
    assert SECRET_VALUE not in caplog.text
    assert "Traceback" not in caplog.text and "Exception in ASGI" not in caplog.text


def test_run_ids_beyond_the_ledgers_integer_are_refused_as_bad(service: Service) -> None:
    async def scenario() -> dict[str, httpx.Response]:
        async with serving(service) as api:
            ids = ["0", "2147483648", "9223372036854775808", "9" * 30, "9" * 5000]
            return {i: await api.get(f"/api/runs/{i}") for i in ids}

    for run_id, answer in asyncio.run(scenario()).items():
        assert answer.status_code == 400, (run_id[:40], answer.text)
        assert answer.json()["error"]["code"] == "bad_run_id"
        assert "2147483647" in answer.json()["error"]["message"]
