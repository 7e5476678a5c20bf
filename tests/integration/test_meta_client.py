"""MetaClient over real HTTP against the sandbox on a real socket: faults, bisection, auth.

Real sleeps are kept short (base_delay 10 ms); only throttling waits what the sandbox's
Retry-After says (1 s), as the client must.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from capisync.capi import versions
from capisync.errors import MetaFatalError, MetaInvalidDataError, MetaTransientError
from capisync.meta import BatchResult, ClientSettings, MetaClient, RetryPolicy
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import valid_event

FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, max_total=10.0)
RAW_EMAIL = "john.smith@example.com"


def settings_for(sandbox: SandboxServer, **overrides: Any) -> ClientSettings:
    values: dict[str, Any] = {
        "base_url": sandbox.url,
        "api_version": versions.newest_name(time.time()),
        "dataset_id": "1234567890",
        "access_token": sandbox.config.access_token,
        "retry": FAST,
        "timeout": 5.0,
    }
    return ClientSettings(**{**values, **overrides})


Event = dict[str, Any]


def serialized(count: int, *, start: int = 0, bad: Sequence[int] = ()) -> list[Event]:
    """Distinct valid events; those at `bad` carry an unhashed e-mail (Meta: 100/2804016)."""
    out = []
    for n in range(start, start + count):
        event = valid_event(event_id=f"Purchase:it-{n}")
        if n - start in bad:
            event["user_data"]["em"] = RAW_EMAIL
        out.append(event)
    return out


def run(
    sandbox: SandboxServer,
    work: Callable[[MetaClient], Awaitable[Any]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **overrides: Any,
) -> Any:
    async def go() -> Any:
        async with MetaClient(settings_for(sandbox, **overrides), sleep=sleep) as client:
            return await work(client)

    return asyncio.run(go())


def send_all(sandbox: SandboxServer, batches: list[list[Event]], **kw: Any) -> list[BatchResult]:
    async def work(client: MetaClient) -> list[BatchResult]:
        return list(await asyncio.gather(*(client.send(b) for b in batches)))

    return run(sandbox, work, **kw)  # type: ignore[no-any-return]


def received_ids(sandbox: SandboxServer) -> list[str]:
    return sorted(str(e.event["event_id"]) for e in sandbox.store.events())


def expected_ids(batches: list[list[dict[str, Any]]]) -> list[str]:
    return sorted(e["event_id"] for batch in batches for e in batch)


def wait_for_hung_requests(sandbox: SandboxServer, count: int) -> None:
    """The server records a hung request when it finally answers; wait for that, so it really
    hung and does not leak into the next test's store."""
    deadline = time.monotonic() + 5
    while sum(r.fault == "hang" for r in sandbox.store.requests()) < count:
        assert time.monotonic() < deadline, "the hung requests never finished on the server"
        time.sleep(0.05)


def test_a_clean_batch_is_delivered_once_with_metas_trace(sandbox: SandboxServer) -> None:
    [result] = send_all(sandbox, [serialized(50)], test_event_code="TEST42")
    assert [i for i, _ in result.accepted] == list(range(50))
    assert result.rejected == result.pending == [] and result.requests == 1
    assert len({trace for _, trace in result.accepted}) == 1 and result.accepted[0][1]
    assert received_ids(sandbox) == expected_ids([serialized(50)])
    [record] = sandbox.store.requests()
    assert record.encoding == "json" and record.fields["test_event_code"] == "TEST42"
    assert record.fields["partner_agent"].startswith("capisync_")


def test_retries_recover_from_injected_5xx_without_loss_or_duplicates(
    sandbox: SandboxServer,
) -> None:
    sandbox.config.error_rate = 0.4
    batches = [serialized(20, start=20 * b) for b in range(15)]
    results = send_all(sandbox, batches)
    assert all(len(r.accepted) == 20 and r.fatal is None for r in results)
    assert received_ids(sandbox) == expected_ids(batches)
    faults = [r for r in sandbox.store.requests() if r.fault == "error"]
    assert faults and all((r.status, r.error_code) == (500, 2) for r in faults)
    assert sum(r.requests for r in results) == len(sandbox.store.requests())


def test_retries_wait_out_throttling_as_meta_asks(sandbox: SandboxServer) -> None:
    sandbox.config.throttle_after = 3
    sandbox.config.throttle_window_s = 0.5
    batches = [serialized(10, start=10 * b) for b in range(7)]
    started = time.monotonic()
    results = send_all(sandbox, batches)
    elapsed = time.monotonic() - started
    assert all(len(r.accepted) == 10 for r in results)
    assert received_ids(sandbox) == expected_ids(batches)
    throttled = [r for r in sandbox.store.requests() if r.fault == "throttle"]
    assert throttled and all((r.status, r.error_code) == (429, 4) for r in throttled)
    assert elapsed >= 1.0  # Retry-After (whole seconds) was honored, not raced through


def test_a_thousand_events_with_three_bad_ones(sandbox: SandboxServer) -> None:
    bad = [17, 503, 998]
    batch = serialized(1000, bad=bad)
    started = time.monotonic()
    [result] = send_all(sandbox, [batch])
    elapsed = time.monotonic() - started
    print(f"\n1,000 events with 3 bad: {result.requests} requests, {elapsed:.2f}s")
    assert len(result.accepted) == 997 and result.pending == [] and result.fatal is None
    assert [i for i, _ in result.rejected] == bad
    for _, error in result.rejected:
        assert isinstance(error, MetaInvalidDataError)
        assert (error.status, error.code, error.subcode) == (400, 100, 2804016)
        assert "must be SHA-256 hashed" in str(error.user_message)
        assert RAW_EMAIL not in f"{error} {error.user_message}"
    good = [e for i, e in enumerate(batch) if i not in bad]
    assert received_ids(sandbox) == expected_ids([good])
    assert result.requests == len(sandbox.store.requests())
    assert result.requests <= 1 + 2 * len(bad) * math.ceil(math.log2(1000))


def test_an_expired_token_stops_the_run_with_everything_pending(sandbox: SandboxServer) -> None:
    sandbox.config.token_expired = True

    async def work(client: MetaClient) -> tuple[BatchResult, BatchResult]:
        return await client.send(serialized(30)), await client.send(serialized(5, start=30))

    first, later = run(sandbox, work)
    assert first.pending == list(range(30)) and first.accepted == first.rejected == []
    assert isinstance(first.fatal, MetaFatalError)
    assert (first.fatal.code, first.fatal.subcode) == (190, 463) and first.requests == 1
    assert "renew the access token in Events Manager" in str(first.fatal)
    assert sandbox.config.access_token not in str(first.fatal)
    assert later.pending == list(range(5)) and later.requests == 0
    assert len(sandbox.store.requests()) == 1 and sandbox.store.events() == []


def test_the_app_secret_proof_is_accepted(sandbox: SandboxServer) -> None:
    sandbox.config.app_secret = "sandbox-app-secret"
    [result] = send_all(sandbox, [serialized(5)], app_secret="sandbox-app-secret")
    assert len(result.accepted) == 5 and result.fatal is None


@pytest.mark.parametrize("secret", [None, "not-the-secret"])
def test_a_missing_or_wrong_proof_is_fatal_not_bisected(
    sandbox: SandboxServer, secret: str | None
) -> None:
    sandbox.config.app_secret = "sandbox-app-secret"
    [result] = send_all(sandbox, [serialized(8)], app_secret=secret)
    assert result.pending == list(range(8)) and result.requests == 1
    assert isinstance(result.fatal, MetaFatalError) and "app_secret" in str(result.fatal)


def test_a_wrong_api_version_is_fatal_not_bisected(sandbox: SandboxServer) -> None:
    [result] = send_all(sandbox, [serialized(8)], api_version="v99.0")
    assert result.requests == 1 and isinstance(result.fatal, MetaFatalError)
    assert result.fatal.code == 2500 and "api_version" in str(result.fatal)


def test_a_client_timeout_against_a_hanging_sandbox_is_retried(sandbox: SandboxServer) -> None:
    sandbox.config.timeout_rate = 1.0
    sandbox.config.hang_s = 0.8

    async def heal_then_sleep(seconds: float) -> None:
        sandbox.config.timeout_rate = 0.0  # the first request hung; let the retry through
        await asyncio.sleep(seconds)

    [result] = send_all(sandbox, [serialized(10)], sleep=heal_then_sleep, timeout=0.3)
    assert len(result.accepted) == 10 and result.requests == 2
    wait_for_hung_requests(sandbox, 1)


def test_timeouts_that_never_end_leave_the_batch_pending(sandbox: SandboxServer) -> None:
    sandbox.config.timeout_rate = 1.0
    sandbox.config.hang_s = 0.6
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
    [result] = send_all(sandbox, [serialized(4)], timeout=0.2, retry=policy)
    assert result.pending == [0, 1, 2, 3] and result.requests == 2
    assert isinstance(result.fatal, MetaTransientError) and "gave up after 2" in str(result.fatal)
    wait_for_hung_requests(sandbox, 2)


def test_check_dataset_proves_token_and_dataset(sandbox: SandboxServer) -> None:
    async def check(client: MetaClient) -> dict[str, Any]:
        return await client.check_dataset()

    assert run(sandbox, check)["id"] == "1234567890"
    sandbox.config.datasets = {"42"}
    with pytest.raises(MetaFatalError) as caught:
        run(sandbox, check)
    assert (caught.value.code, caught.value.subcode) == (100, 33)
    assert "check the dataset ID" in str(caught.value)
