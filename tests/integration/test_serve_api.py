"""The HTTP API over real HTTP against a real `capisync serve`, the sandbox and DuckDB."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from tests.integration.serve_process import EXE, TOKEN, ServeProcess, demo_project

from capisync.demo import DEMO_EXPECTED
from capisync.sandbox import SandboxServer
from capisync.state.schema import END_STATES


def test_a_run_started_through_the_api_is_polled_to_its_end_with_its_counts(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.latency_ms = 1500  # the one request to Meta: the run is seen running
    config = demo_project(tmp_path, sandbox.url)
    with ServeProcess(config) as serve, serve.client() as api:
        started = api.post("/api/syncs/purchases/runs")
        assert started.status_code == 202, started.text
        body = started.json()
        run_id = body["run_id"]
        assert body == {
            "run_id": run_id,
            "sync": "purchases",
            "status": "started",
            "url": f"/api/runs/{run_id}",
        }
        live = api.get(body["url"]).json()
        assert live["status"] == "running" and live["run_id"] == run_id
        assert live["seconds"] > 0  # so far, not the 0.0 a report holds until it ends
        live_counts = live["counts"]  # the end states add up to read, in flight is pending
        assert sum(live_counts[k] for k in END_STATES) == live_counts["read"]
        assert live_counts["in_flight"] <= live_counts["pending"]
        again = api.post("/api/syncs/purchases/runs")
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "already_running"
        assert again.json()["error"]["run_id"] == run_id

        done = serve.wait_run(run_id)
        assert done["status"] == "completed" and done["ok"] is True
        assert {k: done["counts"][k] for k in DEMO_EXPECTED} == DEMO_EXPECTED
        assert len(sandbox.store.events()) == DEMO_EXPECTED["sent"]

        [sync] = api.get("/api/syncs").json()["syncs"]
        assert sync["name"] == "purchases" and sync["failing"] is False
        assert sync["last_run"]["run_id"] == run_id and sync["running_run_id"] is None
        assert sync["schedule"] is None and sync["next_run"] is None
        assert serve.stop() == 143
    assert f"purchases: run {run_id} started (api)" in serve.log
    assert f"purchases: run {run_id} completed: read 300, sent 279" in serve.log


def test_bad_requests_get_json_errors(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = demo_project(tmp_path, sandbox.url)
    with ServeProcess(config) as serve, serve.client() as api:
        cases = {
            ("POST", "/api/syncs/refunds/runs"): (404, "unknown_sync"),
            ("GET", "/api/runs/abc"): (400, "bad_run_id"),
            ("GET", "/api/runs/999"): (404, "unknown_run"),
            ("GET", "/api/nothing-here"): (404, "not_found"),
            ("DELETE", "/api/runs/1"): (405, "method_not_allowed"),
        }
        for (method, path), (status, code) in cases.items():
            answer = api.request(method, path)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["error"]["code"] == code, answer.text
            assert answer.json()["error"]["message"]
        assert "refunds" in api.post("/api/syncs/refunds/runs").json()["error"]["message"]
        spec = api.get("/api/openapi.json").json()
        assert spec["openapi"].startswith("3.1")
        assert {"/api/syncs", "/api/syncs/{name}/runs", "/api/runs/{id}"} <= set(spec["paths"])
        serve.stop()


def test_a_missing_or_wrong_token_gets_401_and_the_right_one_gets_in(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = demo_project(tmp_path, sandbox.url)
    with ServeProcess(config) as serve:
        for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
            with serve.client(token) as api:
                for method, path in [
                    ("GET", "/api/syncs"),
                    ("POST", "/api/syncs/purchases/runs"),
                    ("GET", "/api/openapi.json"),
                    ("GET", "/metrics"),
                ]:
                    answer = api.request(method, path)
                    assert answer.status_code == 401, (token, path, answer.text)
                    assert answer.json()["error"]["code"] == "unauthorized"
                    assert TOKEN not in answer.text
        assert sandbox.store.events() == []  # no run was started by a refused request
        cookie = httpx.get(f"{serve.url}/api/syncs", cookies={"capisync_token": TOKEN})
        assert cookie.status_code == 200
        with serve.client() as api:
            assert api.get("/metrics").status_code == 200
        serve.stop()
    assert TOKEN not in serve.log


def test_without_a_token_serve_refuses_a_host_beyond_this_machine(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = demo_project(tmp_path, sandbox.url)
    config.write_text(config.read_text().replace("serve:\n  token: ${CAPISYNC_API_TOKEN}\n", ""))
    refused = subprocess.run(
        [EXE, "serve", "-c", str(config), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--host 0.0.0.0" in refused.stderr and "serve.token" in refused.stderr
    assert "127.0.0.1" in refused.stderr
    with ServeProcess(config) as serve:  # no token, loopback: open, and said so
        assert serve.url.startswith("http://127.0.0.1:")
        assert "no serve.token: bound to this machine only" in serve.log
        with serve.client(None) as api:
            assert api.get("/api/syncs").status_code == 200
        serve.stop()
