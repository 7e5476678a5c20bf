"""Control endpoints, the dedup report, in-process access and the server's own lifecycle."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from capisync.capi import versions
from capisync.sandbox import (
    EventStore,
    ReceivedEvent,
    SandboxConfig,
    SandboxServer,
    create_app,
)
from capisync.sandbox.examples import valid_batch, valid_event

VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it
DATASET = "1234567890"
TOKEN = "sandbox-token"


def send(graph: httpx.Client, events: list[dict[str, object]], dataset: str = DATASET) -> None:
    response = graph.post(
        f"/{VERSION}/{dataset}/events", json={"access_token": TOKEN, "data": events}
    )
    assert response.status_code == 200, response.text


def test_events_endpoint_lists_and_filters(graph: httpx.Client) -> None:
    send(graph, valid_batch(2))
    send(graph, valid_batch(1, start=9), dataset="42")
    everything = graph.get("/_sandbox/events").json()
    assert everything["count"] == 3
    only_42 = graph.get("/_sandbox/events", params={"dataset_id": "42"}).json()
    assert [e["event"]["event_id"] for e in only_42["events"]] == ["Purchase:batch-9"]
    assert set(only_42["events"][0]) >= {
        "dataset_id",
        "event",
        "test_event_code",
        "request_id",
        "received_at",
    }


def test_requests_endpoint_records_every_post(graph: httpx.Client) -> None:
    send(graph, valid_batch(3))
    graph.post(f"/{VERSION}/{DATASET}/events", json={"access_token": "bad", "data": []})
    records = graph.get("/_sandbox/requests").json()["requests"]
    assert [(r["status"], r["events"], r["error_code"]) for r in records] == [
        (200, 3, None),
        (401, 0, 190),
    ]
    assert "bad" not in str(records) and TOKEN not in str(records)


def test_dedup_endpoint_reports_resent_events(graph: httpx.Client) -> None:
    twice = valid_event(event_id="Purchase:order-7")
    send(graph, [twice, valid_event(event_id="Purchase:order-8")])
    send(graph, [twice])
    send(graph, [valid_event(event_id="Purchase:order-7", event_name="Lead", custom_data=None)])
    report = graph.get("/_sandbox/dedup").json()
    assert report["duplicates"] == 1
    assert report["keys"] == [
        {
            "dataset_id": DATASET,
            "event_name": "Purchase",
            "event_id": "Purchase:order-7",
            "count": 2,
        }
    ]


def test_config_endpoint_patches_the_live_config(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    answer = graph.post(
        "/_sandbox/config",
        json={
            "latency_ms": 5,
            "datasets": ["42", 7],
            "seed": 3,
            "app_secret": "s3cret",
            "throttle_after": None,
        },
    )
    assert answer.status_code == 200
    assert (sandbox.config.latency_ms, sandbox.config.datasets) == (5.0, {"42", "7"})
    assert sandbox.config.seed == 3 and sandbox.config.app_secret == "s3cret"
    view = graph.get("/_sandbox/config").json()
    assert view["access_token"] == "***" and view["app_secret"] == "***"
    assert "s3cret" not in graph.get("/_sandbox/config").text
    assert view["datasets"] == ["42", "7"] and "clock" not in view


@pytest.mark.parametrize(
    "patch",
    [
        {"clock": 1},
        {"error_rate": 2},
        {"latency_ms": -1},
        {"token_expired": "yes"},
        {"datasets": "42"},
        {"nonsense": 1},
        {"seed": 1.5},
        {"access_token": ""},
    ],
)
def test_config_endpoint_refuses_bad_patches_whole(
    graph: httpx.Client, sandbox: SandboxServer, patch: dict[str, object]
) -> None:
    answer = graph.post("/_sandbox/config", json={"hang_s": 1, **patch})
    assert answer.status_code == 400 and answer.json()["problems"]
    assert sandbox.config.hang_s == 30.0  # nothing applied


def test_config_endpoint_needs_a_json_object(graph: httpx.Client) -> None:
    assert graph.post("/_sandbox/config", content=b"[1]").status_code == 400
    assert graph.post("/_sandbox/config", content=b"{nope").status_code == 400


def test_reset_endpoint_forgets_and_restores(graph: httpx.Client, sandbox: SandboxServer) -> None:
    send(graph, valid_batch(2))
    graph.post("/_sandbox/config", json={"token_expired": True, "error_rate": 0.5})
    assert graph.post("/_sandbox/reset").json() == {"reset": True}
    assert sandbox.store.events() == [] and sandbox.store.requests() == []
    assert sandbox.config.token_expired is False and sandbox.config.error_rate == 0.0
    send(graph, valid_batch(1))


def test_unknown_control_path(graph: httpx.Client) -> None:
    answer = graph.get("/_sandbox/nothing")
    assert answer.status_code == 404 and answer.json()["problems"]


def received(event_id: str | None, at: float, dataset: str = DATASET) -> ReceivedEvent:
    event = valid_event(event_id=event_id)
    return ReceivedEvent(dataset, event, None, "r", at)


def test_dedup_report_counts_only_the_last_48_hours() -> None:
    now = 1_790_000_000.0
    store = EventStore(clock=lambda: now)
    hour = 3600.0
    store.add_events(
        [
            received("a", now - 50 * hour),
            received("a", now - 1 * hour),  # 49 h apart: not within
            received("b", now - 47 * hour),
            received("b", now),
            received("b", now),
            received("c", now),
            received("c", now, dataset="other"),  # other dataset: not a pair
            received(None, now),
            received(None, now),  # no event_id: nothing to deduplicate
        ]
    )
    report = store.dedup_report()
    assert report["duplicates"] == 2
    assert [(k["event_id"], k["count"]) for k in report["keys"]] == [("b", 3)]
    assert store.dedup_report(now=now + 47.5 * hour)["duplicates"] == 1


def test_create_app_exposes_store_and_config() -> None:
    config = SandboxConfig(datasets={"1"})
    app = create_app(config)
    assert app.state.config is config
    assert isinstance(app.state.store, EventStore)


def test_a_server_of_its_own_starts_and_stops() -> None:
    with SandboxServer(SandboxConfig(access_token="own-token")) as server:
        assert server.url.startswith("http://127.0.0.1:")
        answer = httpx.post(
            f"{server.url}/{VERSION}/5/events",
            json={"access_token": "own-token", "data": [valid_event()]},
        )
        assert answer.status_code == 200 and len(server.store.events()) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/_sandbox/events", timeout=1)
    with pytest.raises(RuntimeError, match="create a new one"):
        server.start()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_blocks_and_answers_until_stopped() -> None:
    port = free_port()
    code = (
        "from capisync.sandbox import SandboxConfig, serve; "
        f"serve(SandboxConfig(datasets={{'77'}}), port={port})"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        answer = wait_for_answer(f"http://127.0.0.1:{port}/{VERSION}/77?access_token={TOKEN}")
        assert answer.json()["id"] == "77"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert TOKEN.encode() not in stderr  # no access log with the query string's token


def wait_for_answer(url: str) -> httpx.Response:
    deadline = time.monotonic() + 10
    while True:
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
