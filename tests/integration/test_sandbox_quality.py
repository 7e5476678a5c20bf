"""The sandbox's Dataset Quality API over real HTTP: Meta's documented shape, figures from
the events it received, the partner_agent filter, field selection, the same auth errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from tests.integration.conftest import DATASET_ID, TOKEN, VERSION, events_url

from capisync.capi import emq
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import valid_batch, valid_event

QUALITY = f"/{VERSION}/dataset_quality"


def send(graph: httpx.Client, events: list[dict[str, Any]], **fields: str) -> None:
    response = graph.post(events_url(), json={"access_token": TOKEN, "data": events, **fields})
    assert response.status_code == 200, response.text


def quality(graph: httpx.Client, **params: str) -> httpx.Response:
    return graph.get(QUALITY, params={"dataset_id": DATASET_ID, "access_token": TOKEN, **params})


def web(graph: httpx.Client, **params: str) -> dict[str, dict[str, Any]]:
    response = quality(graph, **params)
    assert response.status_code == 200, response.text
    return {entry["event_name"]: entry for entry in response.json()["web"]}


def test_the_answer_has_meta_s_documented_shape(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    send(graph, valid_batch(4))
    [purchase] = web(graph).values()
    emq_ = purchase["event_match_quality"]
    assert isinstance(emq_["composite_score"], float)
    email = next(m for m in emq_["match_key_feedback"] if m["identifier"] == "email")
    assert email["coverage"] == {"percentage": 100.0}
    assert set(email["potential_aly_acr_increase"]) == {"percentage", "description"}
    for name in ("event_potential_aly_acr_increase", "acr"):
        assert set(purchase[name]) == {"percentage", "description"}
    assert set(purchase["event_coverage"]) == {
        "percentage",
        "goal_percentage",
        "description",
        "potential_aly_acr_increase",
    }
    [first, *_] = purchase["dedupe_key_feedback"]
    assert first["dedupe_key"] == "event_id"
    assert set(first) == {
        "dedupe_key",
        "browser_events_with_dedupe_key",
        "server_events_with_dedupe_key",
        "overall_browser_coverage_from_dedupe_key",
    }
    assert purchase["data_freshness"]["upload_frequency"] == "real_time"
    assert "dedup_key_feedback" not in purchase


def test_figures_follow_the_events_received(graph: httpx.Client, sandbox: SandboxServer) -> None:
    rich = valid_batch(3)
    poor = valid_batch(1, start=3)
    for key in ("em", "ph", "country"):
        del poor[0]["user_data"][key]
    send(graph, rich + poor)
    entry = web(graph)["Purchase"]
    keys = [set(e["user_data"]) for e in rich + poor]
    expected = round(sum(emq.event_score(k) for k in keys) / 4, 1)
    assert entry["event_match_quality"]["composite_score"] == expected
    coverage = {
        m["identifier"]: m["coverage"]["percentage"]
        for m in entry["event_match_quality"]["match_key_feedback"]
    }
    assert coverage["email"] == 75.0 and coverage["ip_address"] == 100.0
    assert "fbc" not in coverage  # no event carried it: Meta lists the keys being sent
    # the per-event average is at most the estimate from the same coverage
    shares = emq.coverage_of(keys)
    assert expected <= emq.estimate_from_coverage(shares)


def test_each_event_name_has_its_entry_and_only_web_events_count(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    lead = valid_event(event_name="Lead")
    lead["event_id"] = "Lead:1"
    store_visit = valid_event(event_name="InStore", action_source="physical_store")
    store_visit.pop("event_source_url")
    send(graph, [valid_event(), lead, store_visit])
    assert sorted(web(graph)) == ["Lead", "Purchase"]


def test_agent_name_filters_by_normalized_partner_agent(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    send(graph, valid_batch(2), partner_agent="capisync_0_1")
    other = valid_event(event_name="Lead")
    send(graph, [other], partner_agent="otherplatform_3_2")
    assert sorted(web(graph)) == ["Lead", "Purchase"]
    assert sorted(web(graph, agent_name="capisync")) == ["Purchase"]
    assert sorted(web(graph, agent_name="CapiSync")) == ["Purchase"]
    # Meta filters on the normalized name: the raw partner_agent selects nothing
    assert web(graph, agent_name="capisync_0_1") == {}


def test_dedup_figures_and_event_coverage(graph: httpx.Client, sandbox: SandboxServer) -> None:
    with_id = valid_batch(3)
    without_id = valid_batch(1, start=3)
    del without_id[0]["event_id"]
    no_browser = valid_batch(1, start=4)
    del no_browser[0]["user_data"]["fbp"]
    send(graph, with_id + without_id + no_browser)
    entry = web(graph)["Purchase"]
    by_key = {d["dedupe_key"]: d for d in entry["dedupe_key_feedback"]}
    assert by_key["event_id"]["server_events_with_dedupe_key"]["percentage"] == 80.0
    assert by_key["event_id"]["browser_events_with_dedupe_key"]["percentage"] == 75.0
    assert entry["event_coverage"]["percentage"] == 75.0
    assert entry["event_coverage"]["goal_percentage"] == 75.0
    assert entry["acr"]["percentage"] == 20.0  # 1 of 5 only the server reported


def test_ipv4_diagnostic_counts_the_affected_events(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    v6 = valid_batch(1)
    v6[0]["user_data"]["client_ip_address"] = "2001:db8::1"
    send(graph, valid_batch(3, start=1) + v6)
    [diagnostic] = web(graph)["Purchase"]["event_match_quality"]["diagnostics"]
    assert diagnostic["affected_event_count"] == 3 and diagnostic["total_event_count"] == 4
    assert diagnostic["percentage"] == 75.0


def test_freshness_of_late_events(graph: httpx.Client, sandbox: SandboxServer) -> None:
    send(graph, valid_batch(2, now=time.time() - 5 * 3600))
    assert web(graph)["Purchase"]["data_freshness"]["upload_frequency"] == "daily"


def test_events_older_than_seven_days_no_longer_count(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    send(graph, valid_batch(2))
    sandbox.config.clock = lambda: time.time() + 8 * 86400
    assert quality(graph, fields="web{event_name}").json()["web"] == []


def test_fields_select_what_is_answered(graph: httpx.Client, sandbox: SandboxServer) -> None:
    send(graph, valid_batch(2))
    [entry] = quality(
        graph, fields="web{event_name,event_match_quality{composite_score},acr{percentage}}"
    ).json()["web"]
    assert set(entry) == {"event_name", "event_match_quality", "acr"}
    assert set(entry["event_match_quality"]) == {"composite_score"}
    assert set(entry["acr"]) == {"percentage"}


def test_either_dedup_spelling_is_answered_under_its_own_name(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    send(graph, valid_batch(1))
    for spelling in ("dedupe_key_feedback", "dedup_key_feedback"):
        [entry] = quality(graph, fields=f"web{{event_name,{spelling}{{dedupe_key}}}}").json()["web"]
        assert [d["dedupe_key"] for d in entry[spelling]] == ["event_id", "external_id", "fbp"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [("web{event_name,emq}", "emq"), ("pixels", "pixels"), ("web{event_name", None)],
)
def test_a_bad_fields_value_is_refused_like_meta(
    graph: httpx.Client, sandbox: SandboxServer, fields: str, named: str | None
) -> None:
    response = quality(graph, fields=fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    if named:
        assert error["message"] == f"(#100) Tried accessing nonexisting field ({named})"


def test_same_auth_and_dataset_errors_as_the_other_routes(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    no_token = graph.get(QUALITY, params={"dataset_id": DATASET_ID})
    assert no_token.status_code == 400 and no_token.json()["error"]["code"] == 104
    bad = graph.get(QUALITY, params={"dataset_id": DATASET_ID, "access_token": "nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == 190
    header = graph.get(
        QUALITY, params={"dataset_id": DATASET_ID}, headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert header.status_code == 200
    missing = graph.get(QUALITY, params={"access_token": TOKEN})
    assert missing.status_code == 400 and "dataset_id" in missing.json()["error"]["message"]
    sandbox.config.datasets = {"999"}
    unknown = quality(graph)
    assert unknown.json()["error"]["code"] == 100 and unknown.json()["error"]["error_subcode"] == 33
    sandbox.config.token_expired = True
    assert quality(graph).json()["error"]["error_subcode"] == 463


@pytest.mark.parametrize(("version", "code"), [("v99.0", 2500), ("v1.0", 2635)])
def test_versions_are_routed_as_on_the_other_routes(
    graph: httpx.Client, sandbox: SandboxServer, version: str, code: int
) -> None:
    # an unknown or unreleased version is an unknown path; an expired one is refused
    response = graph.get(
        f"/{version}/dataset_quality", params={"dataset_id": DATASET_ID, "access_token": TOKEN}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_no_customer_value_or_token_in_the_answer(
    graph: httpx.Client, sandbox: SandboxServer
) -> None:
    events = valid_batch(2)
    send(graph, events)
    text = quality(graph).text
    assert TOKEN not in text
    for value in events[0]["user_data"].values():
        for item in value if isinstance(value, list) else [value]:
            assert str(item) not in text
