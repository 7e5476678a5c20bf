"""MetaClient: deliver batches of events to the Conversions API, losing nothing.

    send(events)
      └─ _deliver(indices)            one (sub-)batch: accepted, rejected, bisected or pending
           ├─ _retrying(request)       backoff + jitter on transient/throttled, bounded per batch
           │    └─ _post_once()        one HTTP request inside the shared concurrency slots
           └─ _bisect(indices)         invalid data: both halves, concurrently, recursively

An event is *accepted* only when Meta acknowledged the request that carried it, *rejected*
only when Meta refused it standing alone, and *pending* otherwise (the next run resends it).
An event that cannot be written as JSON at all (which the event builder should never let
through) is *unencodable*: it stays out of the request, and the others still go.

Each request's events are serialized in one orjson call, here: half the cost of one call per
event, and nothing is serialized twice unless a batch is bisected.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import orjson

from capisync.capi.params import MAX_EVENTS_PER_REQUEST
from capisync.errors import (
    MetaError,
    MetaFatalError,
    MetaInvalidDataError,
    MetaThrottledError,
    MetaTransientError,
    MetaUnknownAnswerError,
)
from capisync.meta.classify import CHECK_DATASET, Accepted, Verdict, classify
from capisync.meta.retry import RetryBudget
from capisync.meta.settings import ClientSettings

log = logging.getLogger("capisync.meta")

Sleep = Callable[[float], Awaitable[None]]
_JSON = {"content-type": "application/json"}


@dataclass
class BatchResult:
    accepted: list[tuple[int, str | None]] = field(default_factory=list)  # (index, fbtrace_id)
    rejected: list[tuple[int, MetaError]] = field(default_factory=list)  # (index, Meta's error)
    pending: list[int] = field(default_factory=list)  # not delivered: the run must stop
    unencodable: list[int] = field(default_factory=list)  # not JSON-serializable, not sent
    fatal: MetaError | None = None  # why the run must stop, when it must
    requests: int = 0  # HTTP requests this batch cost

    @classmethod
    def all_pending(cls, indices: Sequence[int], why: MetaError, requests: int = 0) -> BatchResult:
        return cls(pending=list(indices), fatal=why, requests=requests)

    def merge(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            accepted=self.accepted + other.accepted,
            rejected=self.rejected + other.rejected,
            pending=self.pending + other.pending,
            unencodable=self.unencodable + other.unencodable,
            fatal=self.fatal or other.fatal,
            requests=self.requests + other.requests,
        )

    def in_index_order(self) -> BatchResult:
        self.accepted.sort(key=lambda item: item[0])
        self.rejected.sort(key=lambda item: item[0])
        self.pending.sort()
        self.unencodable.sort()
        return self


@dataclass
class ClientStats:
    """What the client did beyond one request per batch, for the run's report and metrics:
    `retries` counts the requests repeated after a transient or throttled answer (throttled
    ones included), `throttle_waits` the retries that waited out Meta's rate limit (a
    throttled answer: Retry-After or backoff), and `throttle_wait_seconds` the seconds those
    waits lasted, summed (requests held back meanwhile by the same wait are not counted
    again)."""

    retries: int = 0
    throttle_waits: int = 0
    throttle_wait_seconds: float = 0.0


class MetaClient:
    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.fatal: MetaError | None = None  # once set, every later send is all-pending
        self.stats = ClientStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._resume_at = float("-inf")  # after a throttle, nobody posts before this
        self._aborted = asyncio.Event()  # abort(): no more posts, no more retries
        self._body_tail = _body_tail(settings)
        room = settings.concurrency + 1
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=room, max_keepalive_connections=room),
            headers={"user-agent": settings.partner_agent},
        )

    async def __aenter__(self) -> MetaClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def abort(self, why: MetaError) -> None:
        """A stop was asked for (Ctrl-C, SIGTERM): requests in flight land, but nothing more
        is posted and nothing is retried; a retry or throttle wait ends at once. Every batch
        not delivered is all-pending with `why`. Without it a stopped run went on retrying
        a Meta that did not answer (6 attempts of a 30 s timeout: minutes past a SIGTERM)."""
        if self.fatal is None:
            self.fatal = why
        self._aborted.set()

    async def send(self, events: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Deliver one batch of events (wire-shape dicts); see the module doc for the outcomes."""
        if len(events) > MAX_EVENTS_PER_REQUEST:
            raise ValueError(f"a batch holds at most {MAX_EVENTS_PER_REQUEST} events")
        indices = list(range(len(events)))
        if not indices:
            return BatchResult()
        if self.fatal is not None:
            return BatchResult.all_pending(indices, self.fatal)
        budget = RetryBudget(self.settings.retry, self._clock)
        result = await self._deliver(events, indices, budget)
        return result.in_index_order()

    async def check_dataset(self) -> dict[str, Any]:
        """Fetch the dataset's id and name: proves the token, the permission and the ID."""
        return await self.fetch(self.settings.dataset_url, {"fields": "id,name"})

    async def fetch(
        self, url: str, params: Mapping[str, str], *, hint: str = CHECK_DATASET
    ) -> dict[str, Any]:
        """GET a Graph API object: its JSON body. The token rides in the Authorization
        header (never the URL), with appsecret_proof when an app secret is set; transient
        and throttled answers are retried as a send's are. Raises MetaFatalError (token,
        permission, unknown object or an answer it cannot read, with `hint` on what to
        check), MetaTransientError or MetaThrottledError once retries are spent."""
        budget = RetryBudget(self.settings.retry, self._clock)
        verdict, _ = await self._retrying(
            lambda: self._get_once(url, params), budget, abortable=False
        )
        if isinstance(verdict, Accepted):
            return verdict.body
        if isinstance(verdict, MetaInvalidDataError | MetaUnknownAnswerError):
            raise _as_fatal(verdict, hint)
        raise verdict

    async def _deliver(
        self, events: Sequence[Mapping[str, Any]], indices: list[int], budget: RetryBudget
    ) -> BatchResult:
        try:
            body = self._events_body(events, indices)
        except orjson.JSONEncodeError:
            return await self._deliver_encodable(events, indices, budget)
        verdict, cost = await self._retrying(lambda: self._post_once(body), budget)
        if isinstance(verdict, Accepted):
            _warn_if_short(verdict, len(indices))
            return BatchResult(accepted=[(i, verdict.fbtrace_id) for i in indices], requests=cost)
        if isinstance(verdict, MetaInvalidDataError):
            if len(indices) == 1:
                return BatchResult(rejected=[(indices[0], verdict)], requests=cost)
            bisected = await self._bisect(events, indices, budget)
            bisected.requests += cost
            return bisected
        return BatchResult.all_pending(indices, self._stop(verdict), cost)

    async def _deliver_encodable(
        self, events: Sequence[Mapping[str, Any]], indices: list[int], budget: RetryBudget
    ) -> BatchResult:
        """The events JSON can carry go; the others are set aside as unencodable."""
        unencodable = _each_unencodable(events, indices) or indices  # never loop
        log.error("%d event(s) could not be serialized as JSON: left out", len(unencodable))
        left_out = set(unencodable)
        sendable = [i for i in indices if i not in left_out]
        result = BatchResult(unencodable=unencodable)
        if sendable:
            result = result.merge(await self._deliver(events, sendable, budget))
        return result

    async def _bisect(
        self, events: Sequence[Mapping[str, Any]], indices: list[int], budget: RetryBudget
    ) -> BatchResult:
        middle = len(indices) // 2
        left, right = await asyncio.gather(
            self._deliver(events, indices[:middle], budget),
            self._deliver(events, indices[middle:], budget),
        )
        return left.merge(right)

    async def _retrying(
        self,
        request: Callable[[], Awaitable[Verdict]],
        budget: RetryBudget,
        *,
        abortable: bool = True,
    ) -> tuple[Verdict, int]:
        """Run `request` until it yields a final verdict or the budget says stop."""
        attempts = 0
        while True:
            if abortable and self.fatal is not None:
                return self.fatal, attempts  # another batch stopped the run
            verdict = await request()
            attempts += 1
            if not isinstance(verdict, MetaTransientError | MetaThrottledError):
                return verdict, attempts
            if abortable and self._aborted.is_set():
                return self.fatal or verdict, attempts  # stopped meanwhile: no retry
            delay = budget.policy.delay_for(verdict, attempts - 1, self._rng)
            if not budget.allows(attempts, delay):
                return budget.exhausted(verdict, attempts, delay), attempts
            log.warning("Meta request failed, retry %d in %.2fs: %s", attempts, delay, verdict)
            self.stats.retries += 1
            if isinstance(verdict, MetaThrottledError):
                self._resume_at = max(self._resume_at, self._clock() + delay)
                self.stats.throttle_waits += 1
                self.stats.throttle_wait_seconds += delay
            await self._pause(delay if not abortable or not self._aborted.is_set() else 0.0)

    async def _post_once(self, body: bytes) -> Verdict:
        await self._wait_out_throttle()
        if self._aborted.is_set() and self.fatal is not None:
            return self.fatal  # stopped while waiting: not posted
        async with self._slots:
            try:
                response = await self._http.post(
                    self.settings.events_url, content=body, headers=_JSON
                )
            except httpx.HTTPError as exc:
                return classify(exc, secrets=self.settings.secrets)
        return classify(response, secrets=self.settings.secrets)

    async def _get_once(self, url: str, params: Mapping[str, str]) -> Verdict:
        query = dict(params)
        if proof := self.settings.appsecret_proof:
            query["appsecret_proof"] = proof
        headers = {"authorization": f"Bearer {self.settings.access_token}"}
        try:
            response = await self._http.get(url, params=query, headers=headers)
        except httpx.HTTPError as exc:
            return classify(exc, secrets=self.settings.secrets)
        return classify(response, secrets=self.settings.secrets, expect_events=False)

    async def _wait_out_throttle(self) -> None:
        wait = self._resume_at - self._clock()
        if wait > 0:
            await self._pause(wait)

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less when abort() is called meanwhile."""
        if self._aborted.is_set() or seconds <= 0:
            return
        sleeping = asyncio.ensure_future(self._sleep(seconds))
        aborted = asyncio.ensure_future(self._aborted.wait())
        try:
            await asyncio.wait({sleeping, aborted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            aborted.cancel()

    def _events_body(self, events: Sequence[Mapping[str, Any]], indices: list[int]) -> bytes:
        return request_body([events[i] for i in indices], self._body_tail)

    def _stop(self, why: MetaError) -> MetaError:
        if self.fatal is None:
            self.fatal = why
            log.error("stopping delivery: %s", why)
        return why


def request_body(events: list[Mapping[str, Any]], tail: bytes) -> bytes:
    """`{"data":[...events...],` + tail: a request's JSON body, the events in one call."""
    return b'{"data":' + orjson.dumps(events) + b"," + tail


def unencodable_among(events: Sequence[Mapping[str, Any]], indices: Sequence[int]) -> list[int]:
    """The indices of the events JSON cannot carry (one orjson call when there are none)."""
    try:
        orjson.dumps([events[i] for i in indices])
    except orjson.JSONEncodeError:
        return _each_unencodable(events, indices)
    return []


def _each_unencodable(events: Sequence[Mapping[str, Any]], indices: Sequence[int]) -> list[int]:
    """Event by event: where the batch as a whole is already known not to serialize."""
    return [i for i in indices if not _encodes(events[i])]


def _encodes(event: Mapping[str, Any]) -> bool:
    try:
        orjson.dumps([event])  # in a list, as in a request: the same nesting depth
    except orjson.JSONEncodeError:
        return False
    return True


def _body_tail(settings: ClientSettings) -> bytes:
    """Everything after `data`, serialized once: `"access_token":...}`."""
    fields: dict[str, str] = {
        "access_token": settings.access_token,
        "partner_agent": settings.partner_agent,
    }
    if settings.test_event_code:
        fields["test_event_code"] = settings.test_event_code
    if proof := settings.appsecret_proof:
        fields["appsecret_proof"] = proof
    return orjson.dumps(fields)[1:]


def _as_fatal(error: MetaError, hint: str) -> MetaFatalError:
    return MetaFatalError(f"{error}: {hint}", **error.meta_fields())  # type: ignore[arg-type]


def _warn_if_short(verdict: Accepted, sent: int) -> None:
    if verdict.events_received is not None and verdict.events_received != sent:
        log.warning(
            "Meta acknowledged %d of %d events (fbtrace_id %s)",
            verdict.events_received,
            sent,
            verdict.fbtrace_id,
        )
