"""Every request encoding Meta accepts reaches the same events, including the official SDK's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.content import Content
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from capisync.capi import versions
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import JOHN_EMAIL_HASH, sha256_hex, valid_batch

VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it
DATASET = "1234567890"
TOKEN = "sandbox-token"
EVENTS = f"/{VERSION}/{DATASET}/events"


def json_array(events: list[dict[str, object]]) -> str:
    return orjson.dumps(events).decode()


def test_json_body_with_token_in_body(graph: httpx.Client, sandbox: SandboxServer) -> None:
    events = valid_batch(2)
    response = graph.post(EVENTS, json={"data": events, "access_token": TOKEN})
    assert response.status_code == 200
    assert [e.event for e in sandbox.store.events()] == events
    assert sandbox.store.requests()[0].encoding == "json"


@pytest.mark.parametrize("scheme", ["Bearer", "OAuth", "bearer"])
def test_token_in_authorization_header(
    graph: httpx.Client, sandbox: SandboxServer, scheme: str
) -> None:
    response = graph.post(
        EVENTS, json={"data": valid_batch(1)}, headers={"Authorization": f"{scheme} {TOKEN}"}
    )
    assert response.status_code == 200


def test_token_in_query_string(graph: httpx.Client) -> None:
    response = graph.post(EVENTS, params={"access_token": TOKEN}, json={"data": valid_batch(1)})
    assert response.status_code == 200


def test_urlencoded_form_as_in_metas_curl_examples(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    events = valid_batch(3)
    form = {"data": json_array(events), "access_token": TOKEN, "test_event_code": "TEST9"}
    response = graph.post(EVENTS, data=form)
    assert response.status_code == 200 and response.json()["events_received"] == 3
    assert [e.event for e in sandbox.store.events()] == events
    assert sandbox.store.events()[0].test_event_code == "TEST9"
    assert sandbox.store.requests()[0].encoding == "urlencoded"


def test_multipart_form(graph: httpx.Client, sandbox: SandboxServer) -> None:
    events = valid_batch(2)
    files = {
        "data": (None, json_array(events)),
        "access_token": (None, TOKEN),
        "partner_agent": (None, "curl_multipart"),
    }
    response = graph.post(EVENTS, files=files)
    assert response.status_code == 200
    assert [e.event for e in sandbox.store.events()] == events
    record = sandbox.store.requests()[0]
    assert record.encoding == "multipart" and record.fields["partner_agent"] == "curl_multipart"


def test_sdk_style_form_with_json_encoded_event_strings(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    events = valid_batch(2)
    data = json_array([orjson.dumps(e).decode() for e in events])  # an array of strings
    body = urlencode({"data": data})
    response = graph.post(
        f"{EVENTS}?access_token={TOKEN}",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert [e.event for e in sandbox.store.events()] == events
    assert sandbox.store.requests()[0].encoding == "urlencoded+json-strings"


def test_form_errors_look_the_same_as_json_errors(graph: httpx.Client) -> None:
    events = valid_batch(2)
    events[1]["event_time"] = 1
    response = graph.post(EVENTS, data={"data": json_array(events), "access_token": TOKEN})
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2804003)
    assert "$['data'][1]" in error["error_user_msg"]


@pytest.fixture
def sdk_api(sandbox: SandboxServer) -> Iterator[FacebookSession]:
    """Meta's own SDK, pointed at the sandbox; the SDK's global default API is restored after."""
    previous = FacebookAdsApi.get_default_api()
    session = FacebookSession(access_token=TOKEN)
    session.GRAPH = sandbox.url  # type: ignore[misc]
    FacebookAdsApi.set_default_api(FacebookAdsApi(session, api_version=VERSION))
    yield session
    FacebookAdsApi.set_default_api(previous)


def sdk_event(event_time: int) -> Event:
    user_data = UserData(
        emails=["John_Smith@gmail.com"],
        phones=["16505551212"],
        client_ip_address="203.0.113.7",
        client_user_agent="Mozilla/5.0 (SDK test)",
        fbp="fb.1.1700000000000.1234567890",
    )
    custom_data = CustomData(
        currency="usd", value=129.9, contents=[Content(product_id="sku-1", quantity=1)]
    )
    return Event(
        event_name="Purchase",
        event_time=event_time,
        event_id="Purchase:order-sdk",
        user_data=user_data,
        custom_data=custom_data,
        event_source_url="https://shop.example/thank-you",
        action_source=ActionSource.WEBSITE,
    )


def test_the_official_sdk_request_is_accepted(
    sdk_api: FacebookSession, sandbox: SandboxServer
) -> None:
    request = EventRequest(
        pixel_id=DATASET,
        events=[sdk_event(int(time.time()) - 60)],
        test_event_code="TEST_SDK",
        partner_agent="sdk_test",
    )
    response = request.execute()
    assert response.events_received == 1 and response.fbtrace_id
    [stored] = sandbox.store.events()
    assert stored.event["user_data"]["em"] == [JOHN_EMAIL_HASH]  # the SDK hashed it
    assert stored.event["user_data"]["ph"] == [sha256_hex("16505551212")]
    assert stored.test_event_code == "TEST_SDK" and stored.partner_agent == "sdk_test"
    assert sandbox.store.requests()[0].encoding == "urlencoded+json-strings"


def test_the_official_sdk_sees_metas_error(
    sdk_api: FacebookSession, sandbox: SandboxServer
) -> None:
    request = EventRequest(pixel_id=DATASET, events=[sdk_event(int(time.time()) - 30 * 86_400)])
    with pytest.raises(FacebookRequestError) as raised:
        request.execute()
    assert raised.value.api_error_code() == 100
    assert raised.value.api_error_subcode() == 2804003
    assert raised.value.http_status() == 400
    assert sandbox.store.events() == []


def test_the_official_sdk_with_an_app_secret(sandbox: SandboxServer) -> None:
    sandbox.config.app_secret = "sdk-app-secret"
    previous = FacebookAdsApi.get_default_api()
    session = FacebookSession(access_token=TOKEN, app_secret="sdk-app-secret")
    session.GRAPH = sandbox.url  # type: ignore[misc]
    FacebookAdsApi.set_default_api(FacebookAdsApi(session, api_version=VERSION))
    try:
        response = EventRequest(pixel_id=DATASET, events=[sdk_event(int(time.time()))]).execute()
    finally:
        FacebookAdsApi.set_default_api(previous)
    assert response.events_received == 1
