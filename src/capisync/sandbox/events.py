"""POST /{version}/{dataset_id}/events: the Conversions API endpoint.

Order, as Meta answers: path and version, token (104, 190, 190/463), appsecret_proof, dataset
(100/33), then the injected faults (throttle, 5xx, hang), then the body: `data` must hold
1..1000 events and every event must pass `rules.check_event`, or the whole request is refused.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from capisync.capi.params import MAX_EVENTS_PER_REQUEST
from capisync.sandbox import graph_errors as errors
from capisync.sandbox.auth import check_dataset, check_token, route_version
from capisync.sandbox.fast_path import check_batch
from capisync.sandbox.graph_errors import GraphError
from capisync.sandbox.responses import graph_error, graph_success
from capisync.sandbox.state import SandboxState
from capisync.sandbox.store import RequestRecord
from capisync.sandbox.wire import (
    WireError,
    WireRequest,
    find_token,
    read_events,
    read_params,
    request_fields,
)


@dataclass
class _Exchange:
    """One events POST in flight: what is known so far, to answer and record it."""

    state: SandboxState
    version: str
    dataset_id: str
    received_at: float
    wire: WireRequest
    wire_error: WireError | None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    event_count: int = 0
    fault: str | None = None
    version_headers: dict[str, str] = field(default_factory=dict)  # an upgraded call's warning

    def fail(self, error: GraphError) -> Response:
        self._record(error.status, error.code, error.subcode)
        return graph_error(error, self.version)

    def succeed(self, events: list[dict[str, Any]]) -> Response:
        fields = request_fields(self.wire.params)
        if self.state.config.keep_events:
            self.state.store.add_batch(
                self.dataset_id,
                events,
                fields.get("test_event_code"),
                self.request_id,
                self.received_at,
                fields.get("partner_agent"),
            )
        self._record(200, None, None)
        body = {"events_received": len(events), "messages": []}
        return graph_success(body, self.version, {**self._usage_headers(), **self.version_headers})

    def _usage_headers(self) -> dict[str, str]:
        usage = self.state.faults.usage_header(self.dataset_id)
        return {"X-Business-Use-Case-Usage": usage} if usage else {}

    def _record(self, status: int, code: int | None, subcode: int | None) -> None:
        self.state.store.add_request(
            RequestRecord(
                self.request_id,
                self.dataset_id,
                status,
                self.event_count,
                self.received_at,
                code,
                subcode,
                self.wire.encoding,
                self.fault,
                request_fields(self.wire.params),
            )
        )


async def post_events(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    arrived = time.monotonic()
    response = await _answer(request, state)
    # Meta's response time includes its own work: the answer leaves `latency_ms` after the
    # request arrived, with the sandbox's parsing and validation inside that time, not added
    remaining = state.config.latency_ms / 1000 - (time.monotonic() - arrived)
    if remaining > 0:
        await asyncio.sleep(remaining)
    return response


async def _answer(request: Request, state: SandboxState) -> Response:
    exchange = await _open_exchange(request, state)
    error = _gatekeeper_error(exchange, request.headers.get("authorization"))
    if error is not None:
        return exchange.fail(error)
    fault = await _injected_fault(exchange)
    if fault is not None:
        return exchange.fail(fault)
    return _process_body(exchange)


async def _open_exchange(request: Request, state: SandboxState) -> _Exchange:
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    query = dict(request.query_params)
    try:
        wire, wire_error = read_params(content_type, body, query), None
    except WireError as exc:
        wire, wire_error = WireRequest("unreadable", query), exc
    return _Exchange(
        state,
        request.path_params["version"],
        request.path_params["dataset_id"],
        state.config.clock(),
        wire,
        wire_error,
    )


def _gatekeeper_error(exchange: _Exchange, authorization: str | None) -> GraphError | None:
    config, params = exchange.state.config, exchange.wire.params
    rest = f"/{exchange.dataset_id}/events"
    route = route_version(config, exchange.version, rest, exchange.received_at)
    exchange.version, exchange.version_headers = route.served, dict(route.headers)
    error = route.error or check_token(
        config, find_token(params, authorization), params, exchange.received_at
    )
    if error is not None and error.subcode == 463:
        exchange.fault = "expired"
    return error or check_dataset(config, "POST", exchange.dataset_id)


async def _injected_fault(exchange: _Exchange) -> GraphError | None:
    state = exchange.state
    decision = state.faults.decide()
    exchange.fault = decision.kind
    if decision.kind == "throttle":
        usage = state.faults.usage_header(exchange.dataset_id, decision.retry_after_s) or "{}"
        return errors.throttled(decision.retry_after_s, usage)
    if decision.kind == "error":
        return errors.service_unavailable()
    if decision.kind == "hang":
        await asyncio.sleep(state.config.hang_s)  # the client should give up first
    return None


def _process_body(exchange: _Exchange) -> Response:
    try:
        if exchange.wire_error is not None:
            raise exchange.wire_error
        events, as_strings = read_events(exchange.wire.params)
    except WireError as exc:
        return exchange.fail(errors.invalid_request_param(str(exc)))
    if as_strings:
        exchange.wire = WireRequest(exchange.wire.encoding + "+json-strings", exchange.wire.params)
    exchange.event_count = len(events)
    if not 1 <= len(events) <= MAX_EVENTS_PER_REQUEST:
        message = f"param data must contain between 1 and {MAX_EVENTS_PER_REQUEST} events"
        return exchange.fail(errors.invalid_request_param(message))
    failure = check_batch(events, exchange.received_at)
    if failure is not None:
        _, bad = failure
        return exchange.fail(errors.invalid_event(bad.subcode, bad.title, bad.message))
    refused = _refused_on_purpose(events, exchange.state.config.reject_event_ids)
    if refused is not None:
        return exchange.fail(refused)
    return exchange.succeed(events)


def _refused_on_purpose(events: list[Any], reject_ids: set[str]) -> GraphError | None:
    if not reject_ids:
        return None
    for index, event in enumerate(events):
        if event.get("event_id") in reject_ids:
            message = f"data[{index}]: this event was refused (sandbox setting reject_event_ids)"
            return errors.invalid_event(2804019, "Invalid parameter", message)
    return None
