"""build_app(service): the Starlette app `capisync serve` runs: the API, /metrics, and the
dashboard (capisync.serve.web, when installed), behind the token (serve/auth.py).

Every error, a route not found included, is JSON: {"error": {"code", "message"}}; an
exception in a route is logged with its type and place (never its message) and answered 500,
by BugsAsJson: Starlette's own handler for Exception re-raises after answering, and uvicorn
then logs the traceback with the exception's message (which may quote a row's value) and
drops the connection.
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        middleware=[Middleware(BugsAsJson), Middleware(TokenAuth, token=service.token)],
        exception_handlers={HTTPException: http_error},
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


class BugsAsJson:
    """ASGI middleware: an exception in a route is logged as internal_error says (type and
    place, never the message, no traceback) and answered 500 JSON; it is not re-raised, so
    the server keeps the connection and logs nothing more. Once the answer has started, the
    rest cannot be changed: the exception is logged and the answer ends there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            message = internal_error(exc)
            log.error("%s %s: %s", scope["method"], scope["path"][:200], message)
            if not started:
                await error(500, "internal_error", message)(scope, receive, send)
