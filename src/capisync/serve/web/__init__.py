"""The dashboard `capisync serve` shows on its port: routes(service) -> Starlette routes.

    /                                 the syncs: status, schedule, last and next run, Run now
    /syncs/{name}                     one sync: run history and chart, match-key coverage and
                                      EMQ estimate (beside Meta's score), freshness, dedup
    POST /syncs/{name}/runs           "Run now" (Service.start_run, trigger "dashboard")
    /syncs/{name}/rejections          rejections by reason; ?identifier= searches one row
    /syncs/{name}/rejections/{code}   one reason: how to fix, Meta's code, the identifiers
    /syncs/{name}/preview             a few hashed events built from a sample (masked)
    /login, POST /login, POST /logout the token form and its cookie (open without a token)
    /static/...                       CSS, the charts' script, vendored uPlot (always open)

The auth middleware (serve/api.py) guards every route here but /login and /static.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from capisync.serve.web import login, pages

if TYPE_CHECKING:
    from capisync.serve.service import Service

STATIC_DIR = Path(__file__).parent / "static"
OPEN_PATHS = ("/login", "/static/")
"""Path prefixes the dashboard serves without the token: the form that asks for it, and
the assets that form uses."""


Handler = Callable[["Service", Request], Awaitable[Response]]


def routes(service: Service) -> list[BaseRoute]:
    """The dashboard's routes, each bound to `service`; build_app mounts them beside the
    API. They read the ledger through ``service.ledger()`` and start runs through
    ``service.start_run``."""

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(service, request)

        return endpoint

    return [
        Route("/", bind(pages.syncs_page), methods=["GET"], name="syncs"),
        Route("/syncs/{name}", bind(pages.sync_page), methods=["GET"], name="sync"),
        Route("/syncs/{name}/runs", bind(pages.run_now), methods=["POST"], name="run_now"),
        Route("/syncs/{name}/rejections", bind(pages.rejections_page), methods=["GET"]),
        Route("/syncs/{name}/rejections/{code}", bind(pages.rejection_page), methods=["GET"]),
        Route("/syncs/{name}/preview", bind(pages.preview_page), methods=["GET"]),
        Route("/login", bind(login.login_page), methods=["GET"], name="login"),
        Route("/login", bind(login.login), methods=["POST"]),
        Route("/logout", bind(login.logout), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
