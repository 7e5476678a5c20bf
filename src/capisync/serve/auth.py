"""The token in front of serve's routes: `Authorization: Bearer <token>` or the cookie
`capisync_token` (the dashboard's /login sets it), compared in constant time.

Without `serve.token` every route is open, and serve binds 127.0.0.1 only (cli.py). With
it, every route needs the token except OPEN_PATHS and OPEN_PREFIXES (the login form and its
static files); a request without it gets 401 and a JSON body, and never learns the token,
except a browser asking for a dashboard page (GET, Accept: text/html, outside /api and
/metrics), which is sent to the login form instead.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "capisync_token"
OPEN_PATHS = frozenset({"/login"})
OPEN_PREFIXES = ("/static/",)
MACHINE_PREFIXES = ("/api/", "/metrics")  # answered in JSON (or Prometheus text), never HTML


def token_matches(given: str | None, token: str) -> bool:
    """Whether `given` is the token, in time independent of where they differ."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def presented_token(conn: HTTPConnection) -> str | None:
    """The bearer token of the request, else its `capisync_token` cookie, else None."""
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.cookies.get(COOKIE) or None


class TokenAuth:
    """ASGI middleware: 401 (JSON) for a request without the token, when one is set."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        given = presented_token(HTTPConnection(scope))
        if token_matches(given, self.token):
            await self.app(scope, receive, send)
            return
        if _browser_page(scope):  # no cookie yet, or one from an old token
            await RedirectResponse("/login", status_code=303)(scope, receive, send)
            return
        why = "wrong token" if given is not None else "missing token"
        body = {
            "error": {
                "code": "unauthorized",
                "message": f"{why}: send `Authorization: Bearer <serve.token>` (the value of "
                "the variable the project file's serve.token reads)",
            }
        }
        response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def _browser_page(scope: Scope) -> bool:
    """A browser asking for a dashboard page: the login form answers it, not a 401 body."""
    conn = HTTPConnection(scope)
    return (
        scope.get("method") in ("GET", "HEAD")
        and not (scope["path"] + "/").startswith(MACHINE_PREFIXES)
        and "text/html" in conn.headers.get("accept", "")
    )
