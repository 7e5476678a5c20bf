"""Retry policy and budget, then MetaClient's retry loop and bisection over a scripted transport.

The transport is a parameter of the client, so these tests hand it a script; the clock and
sleep are injected, so minutes of backoff cost nothing. Over-the-wire behaviour against the
real sandbox is in tests/integration/test_meta_client.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capisync.errors import (
    ConfigError,
    MetaFatalError,
    MetaInvalidDataError,
    MetaThrottledError,
    MetaTransientError,
    MetaUnknownAnswerError,
)
from capisync.meta import BatchResult, ClientSettings, MetaClient, RetryBudget, RetryPolicy

TOKEN = "EAAtestTOKENvalue0123456789abcdefXYZ"
VERSION = "v25.0"  # any version: the transport is fake

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_client(
    handler: Handler, fake: FakeTime, *, policy: RetryPolicy | None = None, **overrides: Any
) -> MetaClient:
    config = ClientSettings(
        base_url="https://graph.test",
        api_version=VERSION,
        dataset_id="123",
        access_token=TOKEN,
        retry=policy or RetryPolicy(),
        **overrides,
    )
    return MetaClient(
        config,
        transport=httpx.MockTransport(handler),
        sleep=fake.sleep,
        clock=fake.clock,
        rng=random.Random(7),
    )


def events(n: int, bad: Sequence[int] = ()) -> list[dict[str, Any]]:
    return [{"event_id": f"e{i}", "bad": i in bad} for i in range(n)]


def ack(request: httpx.Request, trace: str = "T") -> httpx.Response:
    n = len(orjson.loads(request.content)["data"])
    return httpx.Response(200, json={"events_received": n, "fbtrace_id": trace})


def error(status: int, code: int, subcode: int | None = None, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"message": "Invalid parameter", "code": code, "fbtrace_id": "E"}
    if subcode:
        body["error_subcode"] = subcode
    return httpx.Response(status, json={"error": body}, headers=headers)


def scripted(*answers: httpx.Response | Exception | None) -> tuple[Handler, list[httpx.Request]]:
    """Answer the n-th request with answers[n]; None means a normal ack."""
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer if answer is not None else ack(request)

    return handler, seen


def rejecting_bad_events(counter: list[int] | None = None) -> Handler:
    """A Meta-like server: one bad event rejects the whole request with 100/2804016."""

    async def handler(request: httpx.Request) -> httpx.Response:
        batch = orjson.loads(request.content)["data"]
        if counter is not None:
            counter.append(len(batch))
        if any(e["bad"] for e in batch):
            return error(400, 100, 2804016)
        return ack(request, trace=f"T{batch[0]['event_id']}")

    return handler


def send(client: MetaClient, batch: Sequence[dict[str, Any]]) -> BatchResult:
    async def go() -> BatchResult:
        async with client:
            return await client.send(batch)

    return asyncio.run(go())


# -- the policy ---------------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_full_jitter_under_an_exponential_ceiling(retry: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    delay = policy.backoff(retry, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** min(retry, 60))


def test_backoff_grows_on_average() -> None:
    policy, rng = RetryPolicy(base_delay=1.0, max_delay=1000.0), random.Random(1)
    means = [sum(policy.backoff(n, rng) for _ in range(2000)) / 2000 for n in range(5)]
    assert all(later > 1.6 * earlier for earlier, later in zip(means, means[1:], strict=False))


def test_a_throttle_wait_is_honored_beyond_max_delay_with_a_little_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=1.0)
    wait = policy.delay_for(MetaThrottledError("slow", retry_after=90.0), 0, random.Random(3))
    assert 90.0 <= wait <= 90.5


def test_a_throttle_without_a_wait_falls_back_to_backoff() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=1.0)
    assert policy.delay_for(MetaThrottledError("slow"), 3, random.Random(3)) <= 1.0


@pytest.mark.parametrize("bad", [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_total": -5.0}])
def test_nonsense_policies_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def test_budget_counts_attempts_and_time_from_the_first_failure() -> None:
    fake = FakeTime()
    budget = RetryBudget(RetryPolicy(max_attempts=3, max_total=10.0), fake.clock)
    fake.now += 500  # queued before the first failure: not charged
    assert budget.allows(1, 4.0)
    fake.now += 4.0
    assert budget.allows(2, 6.0)  # 4 + 6 = 10: still inside
    assert not budget.allows(3, 0.0)  # attempts exhausted
    assert not RetryBudget(RetryPolicy(max_total=10.0), fake.clock).allows(1, 10.5)


def test_exhaustion_is_a_transient_error_that_keeps_metas_fields() -> None:
    budget = RetryBudget(RetryPolicy(max_attempts=2), FakeTime().clock)
    last = MetaTransientError("Meta: down (code 2)", status=500, code=2, fbtrace_id="Z")
    exhausted = budget.exhausted(last, 2, 1.0)
    assert isinstance(exhausted, MetaTransientError)
    assert (exhausted.status, exhausted.code, exhausted.fbtrace_id) == (500, 2, "Z")
    assert "gave up after 2 attempts" in str(exhausted) and "pending" in str(exhausted)


# -- settings -----------------------------------------------------------------------------------


def test_settings_never_show_secrets_and_refuse_nonsense() -> None:
    config = ClientSettings(
        api_version=VERSION, dataset_id="1", access_token=TOKEN, app_secret="shh"
    )
    assert TOKEN not in repr(config) and "shh" not in repr(config)
    assert config.partner_agent.startswith("capisync_")
    with pytest.raises(ConfigError) as caught:
        ClientSettings(api_version=VERSION, dataset_id=" ", access_token="", concurrency=0)
    assert len(caught.value.problems) == 3


# -- the wire body ------------------------------------------------------------------------------


def test_the_body_is_json_with_the_token_in_it_never_in_the_url() -> None:
    fake = FakeTime()
    handler, seen = scripted(None)
    client = make_client(handler, fake, app_secret="s3cret", test_event_code="TEST123")
    batch = [{"event_id": "a", "n": 1}, {"event_id": "b", "n": 2}]
    result = send(client, batch)
    assert result.accepted == [(0, "T"), (1, "T")] and result.requests == 1
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == f"https://graph.test/{VERSION}/123/events"
    assert request.headers["content-type"] == "application/json"
    proof = hmac.new(b"s3cret", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert orjson.loads(request.content) == {
        "data": [{"event_id": "a", "n": 1}, {"event_id": "b", "n": 2}],
        "access_token": TOKEN,
        "partner_agent": "capisync_0_1",  # name_major_minor of capisync 0.1.0
        "test_event_code": "TEST123",
        "appsecret_proof": proof,
    }


def test_the_data_array_holds_each_event_as_its_own_compact_json_in_order() -> None:
    # the same bytes per event as orjson.dumps(event): a fingerprint of a refused event
    # (sync._fingerprint) matches the event as it went out
    handler, seen = scripted(None)
    batch = [{"event_id": "b", "user_data": {"em": "x" * 64}}, {"event_id": "a", "value": 1.5}]
    send(make_client(handler, FakeTime()), batch)
    body = seen[0].content
    assert body.startswith(b'{"data":[' + b",".join(orjson.dumps(e) for e in batch) + b"],")
    assert b" " not in body  # compact separators


def test_an_event_json_cannot_carry_stays_out_and_the_others_go() -> None:
    # orjson writes no integer beyond 64 bits; the builder should never let one through,
    # and if it does, that event alone is set aside
    handler, seen = scripted(None)
    batch = [*events(3), {"event_id": "huge", "value": 2**70}, *events(2)]
    result = send(make_client(handler, FakeTime()), batch)
    assert result.unencodable == [3]
    assert [i for i, _ in result.accepted] == [0, 1, 2, 4, 5]
    assert result.requests == 1 and not result.rejected and not result.pending
    assert [e["event_id"] for e in orjson.loads(seen[0].content)["data"]] == [
        "e0",
        "e1",
        "e2",
        "e0",
        "e1",
    ]


def test_an_empty_batch_costs_nothing_and_an_oversized_one_is_refused() -> None:
    handler, seen = scripted(None)
    assert send(make_client(handler, FakeTime()), []) == BatchResult()
    assert seen == []
    with pytest.raises(ValueError):
        send(make_client(handler, FakeTime()), events(1001))


# -- retries ------------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_backoff_then_accepted() -> None:
    fake = FakeTime()
    handler, seen = scripted(
        error(500, 2), httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), None
    )
    result = send(make_client(handler, fake), events(5))
    assert [i for i, _ in result.accepted] == [0, 1, 2, 3, 4]
    assert result.pending == [] and result.fatal is None and result.requests == 4
    assert len(fake.sleeps) == 3
    assert all(0 <= s <= 0.5 * 2**n for n, s in enumerate(fake.sleeps))


def test_retry_after_is_honored_before_retrying() -> None:
    fake = FakeTime()
    handler, _ = scripted(error(429, 4, **{"Retry-After": "7"}), None)
    result = send(make_client(handler, fake), events(3))
    assert len(result.accepted) == 3
    assert 7.0 <= fake.sleeps[0] <= 7.5


def test_usage_header_regain_time_is_honored() -> None:
    fake = FakeTime()
    usage = '{"42": [{"type": "ads_management", "estimated_time_to_regain_access": 2}]}'
    handler, _ = scripted(error(400, 80004, **{"X-Business-Use-Case-Usage": usage}), None)
    result = send(make_client(handler, fake), events(2))
    assert len(result.accepted) == 2 and 120.0 <= sum(fake.sleeps) <= 120.5


def test_exhausted_attempts_leave_the_batch_pending_and_stop_the_run() -> None:
    fake = FakeTime()
    handler, seen = scripted(error(503, 2))
    client = make_client(handler, fake, policy=RetryPolicy(max_attempts=3))

    async def go() -> tuple[BatchResult, BatchResult]:
        async with client:
            return await client.send(events(4)), await client.send(events(2))

    first, later = asyncio.run(go())
    assert first.pending == [0, 1, 2, 3] and first.accepted == first.rejected == []
    assert isinstance(first.fatal, MetaTransientError) and first.requests == 3
    assert "gave up after 3 attempts" in str(first.fatal)
    assert later.pending == [0, 1] and later.requests == 0 and later.fatal is client.fatal
    assert len(seen) == 3


def test_a_wait_longer_than_the_budget_gives_up_at_once() -> None:
    fake = FakeTime()
    handler, seen = scripted(error(429, 4, **{"Retry-After": "3600"}))
    result = send(make_client(handler, fake, policy=RetryPolicy(max_total=300.0)), events(2))
    assert result.pending == [0, 1] and len(seen) == 1 and fake.sleeps == []
    assert isinstance(result.fatal, MetaTransientError) and "300s retry budget" in str(result.fatal)


def test_the_time_budget_bounds_a_long_outage() -> None:
    fake = FakeTime()
    handler, _ = scripted(error(500, 1))
    policy = RetryPolicy(max_attempts=1000, base_delay=10.0, max_delay=60.0, max_total=120.0)
    result = send(make_client(handler, fake, policy=policy), events(2))
    assert result.pending == [0, 1] and sum(fake.sleeps) <= 120.0


# -- fatal errors -------------------------------------------------------------------------------


def test_an_expired_token_stops_at_once_and_says_what_to_do() -> None:
    fake = FakeTime()
    expired = error(401, 190, 463)
    handler, seen = scripted(expired)
    result = send(make_client(handler, fake), events(10))
    assert result.pending == list(range(10)) and result.requests == 1 and fake.sleeps == []
    assert isinstance(result.fatal, MetaFatalError) and result.fatal.code == 190
    assert "renew the access token" in str(result.fatal) and TOKEN not in str(result.fatal)


def test_a_fatal_error_stops_batches_already_in_flight() -> None:
    fake = FakeTime()
    other_batch_failed = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content)["data"][0]["event_id"] == "e0":
            await other_batch_failed.wait()  # both batches are in flight now
            return error(403, 200)
        other_batch_failed.set()
        return error(500, 2)

    client = make_client(handler, fake, concurrency=2)

    async def go() -> list[BatchResult]:
        async with client:
            return list(await asyncio.gather(client.send(events(3)), client.send(events(3)[1:])))

    stopped, retrying = asyncio.run(go())
    assert isinstance(stopped.fatal, MetaFatalError)
    assert retrying.pending == [0, 1] and retrying.fatal is client.fatal
    assert retrying.requests == 1  # it saw the stop before its second attempt


# -- bisection ----------------------------------------------------------------------------------


def test_one_bad_event_in_a_thousand_is_isolated_within_the_log_bound() -> None:
    sizes: list[int] = []
    client = make_client(rejecting_bad_events(sizes), FakeTime())
    result = send(client, events(1000, bad=[637]))
    assert [i for i, _ in result.rejected] == [637]
    assert len(result.accepted) == 999 and result.pending == [] and result.fatal is None
    bad = result.rejected[0][1]
    assert isinstance(bad, MetaInvalidDataError) and (bad.code, bad.subcode) == (100, 2804016)
    assert result.requests == len(sizes) <= 2 * math.ceil(math.log2(1000)) + 1
    accepted_traces = dict(result.accepted)
    assert accepted_traces[0] == "Te0" and accepted_traces[999] != "Te0"


def test_a_lone_rejected_event_is_rejected_in_one_request() -> None:
    result = send(make_client(rejecting_bad_events(), FakeTime()), events(1, bad=[0]))
    assert [i for i, _ in result.rejected] == [0] and result.requests == 1


def test_a_transient_error_inside_a_bisection_is_retried() -> None:
    fake = FakeTime()
    inner = rejecting_bad_events()
    calls: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return error(500, 2) if len(calls) == 2 else await inner(request)

    result = send(make_client(handler, fake), events(8, bad=[5]))
    assert [i for i, _ in result.rejected] == [5] and len(result.accepted) == 7
    assert result.requests == len(calls) and len(fake.sleeps) == 1


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=120).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), max_size=6))
    )
)
def test_bisection_accepts_exactly_the_good_and_rejects_exactly_the_bad(
    case: tuple[int, set[int]],
) -> None:
    n, bad = case
    result = send(make_client(rejecting_bad_events(), FakeTime()), events(n, bad=sorted(bad)))
    assert [i for i, _ in result.rejected] == sorted(bad)
    assert [i for i, _ in result.accepted] == sorted(set(range(n)) - bad)
    assert result.pending == [] and result.fatal is None
    depth = math.ceil(math.log2(n)) if n > 1 else 0
    assert result.requests <= 1 + 2 * len(bad) * depth


# -- concurrency --------------------------------------------------------------------------------


def test_requests_in_flight_never_exceed_the_concurrency_setting() -> None:
    in_flight, peak = 0, 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return await rejecting_bad_events()(request)

    client = make_client(handler, FakeTime(), concurrency=3)

    async def go() -> list[BatchResult]:
        async with client:
            return list(await asyncio.gather(*(client.send(events(64, bad=[9])) for _ in range(5))))

    results = asyncio.run(go())
    assert all(len(r.accepted) == 63 for r in results)
    assert peak == 3


# -- check_dataset ------------------------------------------------------------------------------


def test_check_dataset_sends_the_token_in_a_header_not_the_url() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "123", "name": "Shop"})

    client = make_client(handler, FakeTime())

    async def go() -> dict[str, Any]:
        async with client:
            return await client.check_dataset()

    assert asyncio.run(go()) == {"id": "123", "name": "Shop"}
    assert seen[0].method == "GET" and TOKEN not in str(seen[0].url)
    assert seen[0].url.params["fields"] == "id,name"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (error(401, 190, 463), "renew the access token"),
        (error(400, 100, 33), "check the dataset ID"),
        (error(400, 100), "check the dataset ID"),
    ],
)
def test_check_dataset_raises_with_what_to_do(answer: httpx.Response, advice: str) -> None:
    handler, _ = scripted(answer)
    client = make_client(handler, FakeTime())

    async def go() -> dict[str, Any]:
        async with client:
            return await client.check_dataset()

    with pytest.raises(MetaFatalError) as caught:
        asyncio.run(go())
    assert advice in str(caught.value) and TOKEN not in str(caught.value)
    assert client.fatal is None  # a check does not stop a later run by itself


# -- only a documented event-data answer rejects a row -----------------------------------------

# Meta's business-use-case rate limits (its "Rate Limiting" page: 80000-80014)
BUSINESS_USE_CASE_CODES = [80000, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80009, 80014]


@pytest.mark.parametrize("code", BUSINESS_USE_CASE_CODES)
def test_a_business_use_case_rate_limit_waits_and_rejects_no_row(code: int) -> None:
    fake = FakeTime()
    handler, seen = scripted(error(400, code), None)
    result = send(make_client(handler, fake), events(4))
    assert len(result.accepted) == 4 and result.rejected == [] and result.pending == []
    assert len(seen) == 2 and len(fake.sleeps) == 1  # one wait, then the same batch again


@pytest.mark.parametrize(
    "answer",
    [error(400, 100), error(400, 300), error(400, 100, 1487390), error(403, 12345, 2804003)],
)
def test_an_answer_not_known_as_bad_event_data_leaves_every_row_pending(
    answer: httpx.Response,
) -> None:
    # no bisection on it, and no row rejected: the run stops and says why
    handler, seen = scripted(answer)
    result = send(make_client(handler, FakeTime()), events(6))
    assert result.rejected == [] and result.accepted == [] and result.pending == list(range(6))
    assert isinstance(result.fatal, MetaUnknownAnswerError) and len(seen) == 1
    assert "no row is marked rejected" in str(result.fatal)


def test_a_lone_event_is_rejected_only_on_an_event_data_answer() -> None:
    handler, _ = scripted(error(400, 100, 2804019))
    result = send(make_client(handler, FakeTime()), events(1))
    assert [i for i, _ in result.rejected] == [0] and result.fatal is None
