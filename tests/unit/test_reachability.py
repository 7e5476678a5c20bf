"""Waiting briefly for a destination on this machine that is still starting (the sandbox)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from capisync import reachability
from capisync.reachability import is_loopback, wait_until_listening


@pytest.fixture(autouse=True)
def _forget_origins_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reachability, "_gave_up", {})  # a port number may come back


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("sandbox.localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("graph.facebook.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_remote_destination_is_never_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def forbidden(host: str, port: int) -> bool:
        raise AssertionError(f"probed {host}:{port}")

    monkeypatch.setattr(reachability, "_accepts", forbidden)
    assert asyncio.run(wait_until_listening("https://graph.facebook.com")) is None
    assert asyncio.run(wait_until_listening("http://10.0.0.5:8765")) is None


def test_nothing_listening_fails_after_the_wait_saying_how_to_fix_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "capisync.reachability"):
        problem = asyncio.run(wait_until_listening(f"http://127.0.0.1:{port}/", seconds=0.4))
    assert 0.4 <= time.monotonic() - started < 5
    assert problem == (
        f"nothing is listening at http://127.0.0.1:{port} (waited 0.4 s): if it is the local "
        "sandbox, start it first (`capisync sandbox`, in another terminal or in the background "
        "with `&`); otherwise fix destination.base_url"
    )
    assert [r.getMessage() for r in caplog.records] == [
        f"nothing answers at http://127.0.0.1:{port} yet: waiting up to 0.4 s for it to start "
        "(the local sandbox: `capisync sandbox`)"
    ]


def test_a_server_that_starts_during_the_wait_is_used(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()

    async def scenario() -> tuple[str | None, float]:
        servers: list[asyncio.base_events.Server] = []

        async def start() -> None:
            await asyncio.sleep(0.5)
            servers.append(await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port))

        starting = asyncio.create_task(start())
        began = time.monotonic()
        problem = await wait_until_listening(f"http://localhost:{port}", seconds=10)
        waited = time.monotonic() - began
        await starting
        servers[0].close()
        return problem, waited

    with caplog.at_level(logging.WARNING, "capisync.reachability"):
        problem, waited = asyncio.run(scenario())
    assert problem is None and 0.4 < waited < 5
    assert len(caplog.records) == 1  # said once, not once per attempt


def test_a_listening_server_is_not_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> str | None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await wait_until_listening(f"http://127.0.0.1:{port}", seconds=0.1)
        finally:
            server.close()

    with caplog.at_level(logging.WARNING, "capisync.reachability"):
        assert asyncio.run(scenario()) is None
    assert caplog.records == []


def test_a_second_sync_does_not_wait_again_for_the_same_dead_origin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, "capisync.reachability"):
        first = asyncio.run(wait_until_listening(url, seconds=0.3))
        began = time.monotonic()
        second = asyncio.run(wait_until_listening(url, seconds=0.3))
        quick = time.monotonic() - began
    assert first is not None and "(waited 0.3 s)" in first
    assert second is not None and second.startswith(f"nothing is listening at {url}: ")
    assert quick < 0.25 and len(caplog.records) == 1
    # a minute later it waits again (a long-lived process, a sandbox restarted since)
    reachability._gave_up[url] -= 61
    with caplog.at_level(logging.WARNING, "capisync.reachability"):
        third = asyncio.run(wait_until_listening(url, seconds=0.3))
    assert third is not None and "(waited 0.3 s)" in third and len(caplog.records) == 2
