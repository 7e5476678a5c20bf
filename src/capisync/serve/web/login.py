"""`/login`: the form that asks for `serve.token` and keeps it in the `capisync_token` cookie.

The cookie is what the auth middleware (serve/api.py) accepts beside `Authorization: Bearer`:
HttpOnly (no script reads it), SameSite=Strict (no other site's form sends it, so a POST such
as "Run now" cannot be forged from elsewhere), Path=/. The token is compared in constant time
and never written into a page, a redirect or a log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from capisync.serve.auth import COOKIE, token_matches
from capisync.serve.web.pages import render

if TYPE_CHECKING:
    from capisync.serve.service import Service

COOKIE_MAX_AGE = 7 * 24 * 3600
"""Seconds the browser keeps the cookie: a week, then the dashboard asks again."""
MAX_FORM_BYTES = 4096


async def login_page(service: Service, request: Request) -> Response:
    return render("login.html", title="Log in", syncs=[], current=None, token=service.token)


async def login(service: Service, request: Request) -> Response:
    """POST /login: a right token sets the cookie and goes to the syncs; a wrong one shows the
    form again (401)."""
    if service.token is None:
        return RedirectResponse("/", status_code=303)
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    given = (form.get("token") or [""])[0]
    if not token_matches(given, service.token):
        return render(
            "login.html",
            401,
            title="Log in",
            syncs=[],
            current=None,
            token=service.token,
            failed=True,
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        service.token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(service: Service, request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
