"""Integration fixtures: one real sandbox Graph API on an ephemeral port for the whole session.

    def test_something(sandbox: SandboxServer) -> None:    # reset before the test
        sandbox.config.latency_ms = 50                     # takes effect on the next request
        httpx.post(f"{sandbox.url}{events_url()}", json={...})
        sandbox.store.events()

`graph` is an httpx client on the sandbox; `events_url()` builds the events endpoint.
Valid events come from `capisync.sandbox.examples` (valid_event, valid_batch, valid_app_event).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from capisync.capi import versions
from capisync.sandbox import SandboxConfig, SandboxServer

DATASET_ID = "1234567890"
VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it
TOKEN = SandboxConfig().access_token


def events_url(dataset_id: str = DATASET_ID, version: str = VERSION) -> str:
    return f"/{version}/{dataset_id}/events"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox with an empty store and the default config, fault state reset."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def graph(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as client:
        yield client
