"""Every fault knob over real HTTP: latency, concurrency, 5xx, seeded determinism, throttling,
hangs. Sleeps are kept short; each test sets only the knob it checks.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest

from capisync.capi import versions
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import valid_event

VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it
DATASET = "1234567890"
TOKEN = "sandbox-token"
EVENTS = f"/{VERSION}/{DATASET}/events"


def send(graph: httpx.Client) -> httpx.Response:
    return graph.post(EVENTS, json={"access_token": TOKEN, "data": [valid_event()]})


def test_latency_delays_each_events_post(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.latency_ms = 200
    start = time.perf_counter()
    assert send(graph).status_code == 200
    assert time.perf_counter() - start >= 0.2


def test_latency_is_the_response_time_with_the_sandboxs_work_inside_it(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    # a request that takes the sandbox 0.3 s of work (a hang), answered 0.5 s after arrival:
    # the work happens inside the response time, not before it (that would take 0.8 s)
    sandbox.config.timeout_rate, sandbox.config.hang_s = 1.0, 0.3
    sandbox.config.latency_ms = 500
    start = time.perf_counter()
    assert send(graph).status_code == 200
    elapsed = time.perf_counter() - start
    assert 0.5 <= elapsed < 0.7, elapsed
    # work longer than the latency: the answer comes when the work is done
    sandbox.config.latency_ms = 100
    start = time.perf_counter()
    assert send(graph).status_code == 200
    assert 0.3 <= time.perf_counter() - start < 0.45


def test_latency_never_blocks_the_event_loop(sandbox: SandboxServer) -> None:
    sandbox.config.latency_ms = 150

    async def sixteen_at_once() -> list[int]:
        async with httpx.AsyncClient(base_url=sandbox.url, timeout=10) as client:
            responses = await asyncio.gather(
                *(
                    client.post(EVENTS, json={"access_token": TOKEN, "data": [valid_event()]})
                    for _ in range(16)
                )
            )
        return [r.status_code for r in responses]

    start = time.perf_counter()
    statuses = asyncio.run(sixteen_at_once())
    elapsed = time.perf_counter() - start
    assert statuses == [200] * 16
    assert 0.15 <= elapsed < 0.6, f"16 concurrent requests took {elapsed:.2f}s (serial: 2.4s)"


def test_error_rate_one_answers_transient_500(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.error_rate = 1.0
    response = send(graph)
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["code"], error["is_transient"]) == (2, True)
    assert error["message"] == "An unexpected error has occurred. Please retry your request later."
    assert sandbox.store.events() == []
    assert sandbox.store.requests()[0].fault == "error"


def statuses_for(graph: httpx.Client, sandbox: SandboxServer, seed: int, n: int = 16) -> list[int]:
    sandbox.reset()
    sandbox.config.error_rate = 0.5
    sandbox.config.seed = seed
    return [send(graph).status_code for _ in range(n)]


def test_faults_are_deterministic_for_a_seed(graph: httpx.Client, sandbox: SandboxServer) -> None:
    first = statuses_for(graph, sandbox, seed=7)
    assert set(first) == {200, 500}
    assert statuses_for(graph, sandbox, seed=7) == first
    other_seed = statuses_for(graph, sandbox, seed=8)
    assert other_seed != first
    assert len(sandbox.store.events()) == other_seed.count(200)  # a 500 stores nothing


def test_throttling_answers_code_4_with_retry_after_then_recovers(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.config.throttle_after = 2
    sandbox.config.throttle_window_s = 0.6
    assert [send(graph).status_code for _ in range(2)] == [200, 200]
    throttled = send(graph)
    assert throttled.status_code == 429
    error = throttled.json()["error"]
    assert (error["code"], error["is_transient"]) == (4, True)
    assert error["message"] == "(#4) Application request limit reached"
    assert int(throttled.headers["retry-after"]) >= 1
    usage = orjson.loads(throttled.headers["x-business-use-case-usage"])
    assert usage[DATASET][0]["call_count"] == 100
    assert sandbox.store.requests()[-1].fault == "throttle"
    time.sleep(0.65)
    assert send(graph).status_code == 200
    assert len(sandbox.store.events()) == 3


def test_usage_header_on_success_when_throttling_is_configured(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    assert "x-business-use-case-usage" not in send(graph).headers
    sandbox.config.throttle_after = 4
    usage = orjson.loads(send(graph).headers["x-business-use-case-usage"])
    assert usage[DATASET][0]["call_count"] == 50  # both POSTs of the window count, like Meta


def test_a_hang_outlasts_the_client_then_is_processed(sandbox: SandboxServer) -> None:
    sandbox.config.timeout_rate = 1.0
    sandbox.config.hang_s = 0.5
    with (
        httpx.Client(base_url=sandbox.url, timeout=0.2) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        send(impatient)
    deadline = time.monotonic() + 3
    while not sandbox.store.requests() and time.monotonic() < deadline:
        time.sleep(0.02)
    [record] = sandbox.store.requests()
    assert record.fault == "hang" and record.status == 200
    assert len(sandbox.store.events()) == 1  # Meta may still process what the client gave up on


def test_a_hang_answers_a_patient_client(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.timeout_rate = 1.0
    sandbox.config.hang_s = 0.3
    start = time.perf_counter()
    assert send(graph).status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_faults_apply_only_after_auth(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.error_rate = 1.0
    response = graph.post(EVENTS, json={"access_token": "wrong", "data": [valid_event()]})
    assert response.json()["error"]["code"] == 190


def test_keep_events_off_counts_requests_only(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.keep_events = False
    assert send(graph).status_code == 200
    assert sandbox.store.events() == []
    assert sandbox.store.requests()[0].events == 1


def test_throttle_after_zero_refuses_every_post(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.config.throttle_after = 0
    sandbox.config.throttle_window_s = 5
    responses = [send(graph) for _ in range(2)]
    assert [r.status_code for r in responses] == [429, 429]
    assert responses[0].headers["retry-after"] == "5"
    assert sandbox.store.events() == []
