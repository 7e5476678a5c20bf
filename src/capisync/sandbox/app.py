"""The sandbox's Starlette app: Graph API routes, control routes, Graph-shaped 404/405."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from capisync.sandbox import control
from capisync.sandbox import graph_errors as errors
from capisync.sandbox.auth import check_dataset, check_token, route_version
from capisync.sandbox.config import SandboxConfig
from capisync.sandbox.events import post_events
from capisync.sandbox.quality import get_dataset_quality
from capisync.sandbox.responses import graph_error, graph_success, json_response
from capisync.sandbox.state import SandboxState
from capisync.sandbox.wire import find_token


async def get_dataset(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    version, dataset_id = request.path_params["version"], request.path_params["dataset_id"]
    params = dict(request.query_params)
    token = find_token(params, request.headers.get("authorization"))
    now = state.config.clock()
    route = route_version(state.config, version, f"/{dataset_id}", now)
    error = (
        route.error
        or check_token(state.config, token, params, now)
        or check_dataset(state.config, "GET", dataset_id)
    )
    if error is not None:
        return graph_error(error, route.served)
    body = {"id": dataset_id, "name": f"Sandbox dataset {dataset_id}"}
    return graph_success(body, route.served, dict(route.headers))


async def _not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/_sandbox"):
        return json_response({"problems": [f"no control endpoint {request.url.path}"]}, 404)
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return graph_error(errors.unsupported_method(request.method))
    return graph_error(errors.unknown_path(request.url.path))


class _DateFromClock:
    """Every answer's `Date` header is the sandbox clock's time, as Meta's is Meta's: a test
    that moves the clock sees the date it set (the servers run with uvicorn's own date off)."""

    def __init__(self, app: ASGIApp, clock: Callable[[], float]) -> None:
        self.app, self.clock = app, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.clock(), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", date)]}
            await send(message)

        await self.app(scope, receive, send_dated)


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A sandbox app; `app.state.store` and `app.state.config` give in-process access."""
    state = SandboxState.create(config if config is not None else SandboxConfig())
    app = Starlette(
        routes=[
            Mount("/_sandbox", routes=control.ROUTES),
            Route("/{version}/{dataset_id}/events", post_events, methods=["POST"]),
            # before /{version}/{dataset_id}, which would take "dataset_quality" for an ID
            Route("/{version}/dataset_quality", get_dataset_quality, methods=["GET"]),
            Route("/{version}/{dataset_id}", get_dataset, methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
        middleware=[Middleware(_DateFromClock, clock=lambda: state.config.clock())],
    )
    app.state.sandbox = state
    app.state.store = state.store
    app.state.config = state.config
    return app
