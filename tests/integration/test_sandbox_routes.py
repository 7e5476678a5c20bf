"""The sandbox's Graph routes over real HTTP: success, errors, paths, versions, datasets."""

from __future__ import annotations

import time

import httpx

from capisync.capi import versions
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import valid_batch, valid_event

VERSION = versions.newest_name(time.time())  # the current default, as capisync picks it
DATASET = "1234567890"
TOKEN = "sandbox-token"
EVENTS = f"/{VERSION}/{DATASET}/events"


def post(graph: httpx.Client, payload: dict[str, object], url: str = EVENTS) -> httpx.Response:
    return graph.post(url, json={"access_token": TOKEN, **payload})


def test_success_answers_like_meta_and_stores_every_event(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    events = valid_batch(3)
    response = post(graph, {"data": events, "test_event_code": "TEST123"})
    assert response.status_code == 200
    body = response.json()
    assert body["events_received"] == 3 and body["messages"] == []
    assert body["fbtrace_id"] and response.headers["x-fb-trace-id"] == body["fbtrace_id"]
    assert response.headers["facebook-api-version"] == VERSION
    stored = sandbox.store.events()
    assert [s.event for s in stored] == events
    assert {s.dataset_id for s in stored} == {DATASET}
    assert {s.test_event_code for s in stored} == {"TEST123"}
    assert len({s.request_id for s in stored}) == 1


def test_request_fields_are_accepted_and_kept(graph: httpx.Client, sandbox: SandboxServer) -> None:
    fields = {
        "partner_agent": "capisync_0_1",
        "namespace_id": "ns-1",
        "upload_id": "u-1",
        "upload_tag": "nightly",
        "upload_source": "warehouse",
    }
    assert post(graph, {"data": [valid_event()], **fields}).status_code == 200
    [record] = sandbox.store.requests()
    assert record.fields == fields and record.status == 200 and record.events == 1
    [stored] = sandbox.store.events()
    assert stored.partner_agent == "capisync_0_1" and stored.test_event_code is None


def test_one_invalid_event_rejects_the_whole_batch(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    events = valid_batch(10)
    events[7]["user_data"]["em"] = ["john_smith@gmail.com"]
    response = post(graph, {"data": events})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Invalid parameter" and error["type"] == "OAuthException"
    assert (error["code"], error["error_subcode"], error["is_transient"]) == (100, 2804016, False)
    assert "$['data'][7]['user_data']['em']" in error["error_user_msg"]
    assert error["error_user_title"] and error["fbtrace_id"]
    assert "john_smith" not in response.text
    assert sandbox.store.events() == []
    [record] = sandbox.store.requests()
    assert (record.status, record.events, record.error_code, record.error_subcode) == (
        400,
        10,
        100,
        2804016,
    )


def test_a_thousand_events_pass_and_a_thousand_and_one_do_not(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    assert post(graph, {"data": valid_batch(1000)}).json()["events_received"] == 1000
    too_many = post(graph, {"data": valid_batch(1001)})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == 100
    assert "1000" in too_many.json()["error"]["message"]
    assert len(sandbox.store.events()) == 1000


def test_empty_missing_or_malformed_data_is_refused(graph: httpx.Client) -> None:
    for payload in ({"data": []}, {}, {"data": {"event_name": "x"}}, {"data": "[not json"}):
        response = post(graph, payload)
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == 100
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    broken = graph.post(EVENTS, content=b'{"data": [', headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == 100
    assert "not valid JSON" in broken.json()["error"]["message"]


def test_unknown_dataset_is_meta_error_33(graph: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.config.datasets = {DATASET}
    response = post(graph, {"data": [valid_event()]}, url=f"/{VERSION}/999/events")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert error["type"] == "GraphMethodException"
    assert error["message"].startswith("Unsupported post request. Object with ID '999'")
    assert post(graph, {"data": [valid_event()]}).status_code == 200


def test_non_numeric_dataset_does_not_exist_by_default(graph: httpx.Client) -> None:
    response = post(graph, {"data": [valid_event()]}, url=f"/{VERSION}/my-pixel/events")
    assert response.json()["error"]["error_subcode"] == 33


def test_versions_are_checked_as_meta_does(graph: httpx.Client) -> None:
    assert (
        post(graph, {"data": [valid_event()]}, url=f"/{VERSION}/{DATASET}/events").status_code
        == 200
    )
    for bad in ("25.0", "v25", "vX.0", "v25.1", "v99.0"):
        response = post(graph, {"data": [valid_event()]}, url=f"/{bad}/{DATASET}/events")
        assert response.status_code == 400, bad
        error = response.json()["error"]
        assert error["code"] == 2500 and "Unknown path components" in error["message"]
    old = post(graph, {"data": [valid_event()]}, url=f"/v12.0/{DATASET}/events")
    assert old.json()["error"]["code"] == 2635


def test_get_dataset(graph: httpx.Client, sandbox: SandboxServer) -> None:
    ok = graph.get(f"/{VERSION}/{DATASET}", params={"access_token": TOKEN})
    assert ok.status_code == 200
    assert ok.json()["id"] == DATASET and ok.json()["name"]
    by_header = graph.get(f"/{VERSION}/{DATASET}", headers={"Authorization": f"OAuth {TOKEN}"})
    assert by_header.status_code == 200
    sandbox.config.datasets = {"42"}
    missing = graph.get(f"/{VERSION}/{DATASET}", params={"access_token": TOKEN})
    assert missing.status_code == 400
    error = missing.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert error["message"].startswith(f"Unsupported get request. Object with ID '{DATASET}'")
    bad_token = graph.get(f"/{VERSION}/42", params={"access_token": "nope"})
    assert bad_token.status_code == 401 and bad_token.json()["error"]["code"] == 190


def test_unknown_paths_and_methods_answer_graph_errors(graph: httpx.Client) -> None:
    unknown = graph.post(f"/{VERSION}/1/2/3/events", json={})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 2500
    wrong_method = graph.get(EVENTS, params={"access_token": TOKEN})
    assert wrong_method.status_code == 400
    assert wrong_method.json()["error"]["message"] == "Unsupported get request."


def test_get_requests_do_not_count_as_events_posts(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    graph.get(f"/{VERSION}/{DATASET}", params={"access_token": TOKEN})
    assert sandbox.store.requests() == []
