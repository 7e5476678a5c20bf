"""build_app(service): the Starlette app `capisync serve` runs: the API, /metrics, and the
dashboard (capisync.serve.web, when installed), behind the token (serve/auth.py).

Every error, a route not found included, is JSON: {"error": {"code", "message"}}; an
exception in a route is logged with its type and place (never its message) and answered 500.
"""

from __future__ import annotations

import importlib
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from capisync.serve.api import api_routes, error
from capisync.serve.auth import TokenAuth
from capisync.serve.scheduler import internal_error
from capisync.serve.service import Service

log = logging.getLogger("capisync.serve")
_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


def build_app(service: Service) -> Starlette:
    routes: list[BaseRoute] = [
        *api_routes(),
        Route("/metrics", metrics, methods=["GET"]),
        *dashboard_routes(service),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TokenAuth, token=service.token)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.service = service
    return app


def dashboard_routes(service: Service) -> list[BaseRoute]:
    """The dashboard's routes (capisync.serve.web.routes(service)), none without it."""
    try:
        web = importlib.import_module("capisync.serve.web")
    except ModuleNotFoundError as exc:
        if exc.name != "capisync.serve.web":
            raise
        return []
    routes: list[BaseRoute] = web.routes(service)
    return routes


async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    body, content_type = service.metrics.render()
    return Response(body, headers={"Content-Type": content_type})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    return error(exc.status_code, code, f"{exc.detail}: {request.method} {request.url.path}")


async def server_error(request: Request, exc: Exception) -> Response:
    message = internal_error(exc)
    log.error("%s %s: %s", request.method, request.url.path, message)
    return error(500, "internal_error", message)
