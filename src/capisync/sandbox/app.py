"""The sandbox's Starlette app: Graph API routes, control routes, Graph-shaped 404/405."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from capisync.sandbox import control
from capisync.sandbox import graph_errors as errors
from capisync.sandbox.auth import check_dataset, check_token, check_version
from capisync.sandbox.config import SandboxConfig
from capisync.sandbox.events import post_events
from capisync.sandbox.responses import graph_error, graph_success, json_response
from capisync.sandbox.state import SandboxState
from capisync.sandbox.wire import find_token


async def get_dataset(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    version, dataset_id = request.path_params["version"], request.path_params["dataset_id"]
    params = dict(request.query_params)
    token = find_token(params, request.headers.get("authorization"))
    error = (
        check_version(version, f"/{dataset_id}")
        or check_token(state.config, token, params, state.config.clock())
        or check_dataset(state.config, "GET", dataset_id)
    )
    if error is not None:
        return graph_error(error, version)
    body = {"id": dataset_id, "name": f"Sandbox dataset {dataset_id}"}
    return graph_success(body, version, {})


async def _not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/_sandbox"):
        return json_response({"problems": [f"no control endpoint {request.url.path}"]}, 404)
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return graph_error(errors.unsupported_method(request.method))
    return graph_error(errors.unknown_path(request.url.path))


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A sandbox app; `app.state.store` and `app.state.config` give in-process access."""
    state = SandboxState.create(config if config is not None else SandboxConfig())
    app = Starlette(
        routes=[
            Mount("/_sandbox", routes=control.ROUTES),
            Route("/{version}/{dataset_id}/events", post_events, methods=["POST"]),
            Route("/{version}/{dataset_id}", get_dataset, methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.sandbox = state
    app.state.store = state.store
    app.state.config = state.config
    return app
