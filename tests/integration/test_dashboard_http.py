"""The dashboard's pages over real HTTP from a real `capisync serve` (no browser): status
codes, headers, the login cookie, and what a page must never echo."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.integration.serve_process import TOKEN, ServeProcess, demo_project

from capisync.sandbox import SandboxServer


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("dashboard-http")
    with SandboxServer() as sandbox, ServeProcess(demo_project(root, sandbox.url)) as process:
        yield process
        process.stop()


def test_every_page_carries_a_csp_without_inline_script(serve: ServeProcess) -> None:
    with serve.client() as c:
        for path in ("/", "/syncs/purchases", "/syncs/purchases/rejections", "/login"):
            answer = c.get(path)
            assert answer.status_code == 200, path
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert answer.headers["content-type"].startswith("text/html")


def test_an_unknown_sync_or_reason_is_a_404_page(serve: ServeProcess) -> None:
    with serve.client() as c:
        assert c.get("/syncs/nope").status_code == 404
        assert c.post("/syncs/nope/runs").status_code == 404
        assert c.get("/syncs/purchases/rejections/no_such_code").status_code == 404


def test_login_sets_an_httponly_strict_cookie_only_for_the_right_token(
    serve: ServeProcess,
) -> None:
    with httpx.Client(base_url=serve.url, timeout=30) as c:
        assert c.get("/").status_code == 401
        assert c.get("/static/dashboard.css").status_code == 200  # open: the login form uses it
        wrong = c.post("/login", data={"token": "wrong"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        assert "wrong" not in wrong.text and TOKEN not in wrong.text
        right = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == "/"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert c.get("/").status_code == 200  # the cookie is the token now


def test_a_browser_without_the_token_is_sent_to_the_login_form_and_machines_get_401(
    serve: ServeProcess,
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with httpx.Client(base_url=serve.url, timeout=30, follow_redirects=False) as c:
        for path in ("/", "/syncs/purchases"):
            page = c.get(path, headers=html)
            assert page.status_code == 303 and page.headers["location"] == "/login"
        c.cookies.set("capisync_token", "a-token-rotated-since")  # an old cookie: log in again
        assert c.get("/", headers=html).headers.get("location") == "/login"
        c.cookies.clear()
        for path in ("/api/syncs", "/metrics"):  # never HTML, even for a browser
            answer = c.get(path, headers=html)
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
        assert c.get("/").status_code == 401  # a script's request: JSON, not a redirect
        assert c.post("/syncs/purchases/runs", headers=html).status_code == 401


def test_a_search_holding_an_email_or_phone_is_not_shown_back(serve: ServeProcess) -> None:
    with serve.client() as c:
        for value in ("jane.doe@example.com", "+1 415 555 0123"):
            page = c.get("/syncs/purchases/rejections", params={"identifier": value}).text
            assert "looks like an email address or phone number" in page
            assert value not in page


def test_the_run_now_message_comes_from_a_fixed_set(serve: ServeProcess) -> None:
    with serve.client() as c:
        page = c.get("/syncs/purchases", params={"started": "<b>pwned</b>", "run": "x"}).text
        assert "pwned" not in page
        page = c.get("/syncs/purchases", params={"started": "started", "run": "<i>7</i>"}).text
        assert "Run started." in page and "<i>" not in page
