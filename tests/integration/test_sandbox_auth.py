"""Tokens and app secret proofs, answered as the Graph API answers them."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from capisync.capi import versions
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import valid_event

VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it
DATASET = "1234567890"
TOKEN = "sandbox-token"
EVENTS = f"/{VERSION}/{DATASET}/events"
SECRET = "app-secret-for-tests"


def proof(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def send(graph: httpx.Client, **fields: str) -> httpx.Response:
    return graph.post(EVENTS, json={"data": [valid_event()], **fields})


def test_missing_token_is_code_104(graph: httpx.Client, sandbox: SandboxServer) -> None:
    response = send(graph)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (104, "OAuthException")
    assert sandbox.store.events() == []
    assert sandbox.store.requests()[0].error_code == 104


def test_wrong_token_is_code_190_and_never_echoed(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    response = send(graph, access_token="EAAB-not-the-right-token")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 190 and error["type"] == "OAuthException"
    assert error["message"] == "Invalid OAuth access token - Cannot parse access token"
    assert "error_subcode" not in error and error["fbtrace_id"]
    assert "invalid_token" in response.headers["www-authenticate"]
    assert "EAAB-not-the-right-token" not in response.text
    assert sandbox.store.events() == []


def test_wrong_bearer_header_is_code_190(graph: httpx.Client) -> None:
    response = graph.post(
        EVENTS, json={"data": [valid_event()]}, headers={"Authorization": "Bearer nope"}
    )
    assert response.json()["error"]["code"] == 190


def test_expired_token_is_190_subcode_463_on_every_call(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.config.token_expired = True
    posted = send(graph, access_token=TOKEN)
    got = graph.get(f"/{VERSION}/{DATASET}", params={"access_token": TOKEN})
    for response in (posted, got):
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["code"], error["error_subcode"]) == (190, 463)
        assert error["message"].startswith("Error validating access token: Session has expired")
    assert sandbox.store.events() == []
    assert sandbox.store.requests()[0].fault == "expired"


def test_a_changed_token_takes_effect_on_the_next_request(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.config.access_token = "rotated"
    assert send(graph, access_token=TOKEN).status_code == 401
    assert send(graph, access_token="rotated").status_code == 200


def test_app_secret_proof_required_when_a_secret_is_set(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.config.app_secret = SECRET
    missing = send(graph, access_token=TOKEN)
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == (
        "API calls from the server require an appsecret_proof argument"
    )
    wrong = send(graph, access_token=TOKEN, appsecret_proof=proof("other-secret", TOKEN))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == {
        **wrong.json()["error"],
        "message": "Invalid appsecret_proof provided in the API argument",
        "type": "GraphMethodException",
        "code": 100,
    }
    right = send(graph, access_token=TOKEN, appsecret_proof=proof(SECRET, TOKEN))
    assert right.status_code == 200
    assert len(sandbox.store.events()) == 1


def test_app_secret_proof_in_the_query_string(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.app_secret = SECRET
    params = {"access_token": TOKEN, "appsecret_proof": proof(SECRET, TOKEN)}
    assert graph.post(EVENTS, params=params, json={"data": [valid_event()]}).status_code == 200
    got = graph.get(f"/{VERSION}/{DATASET}", params=params)
    assert got.status_code == 200
    no_proof = graph.get(f"/{VERSION}/{DATASET}", params={"access_token": TOKEN})
    assert no_proof.status_code == 400


def test_no_secret_configured_means_no_proof_needed(graph: httpx.Client) -> None:
    assert send(graph, access_token=TOKEN).status_code == 200
