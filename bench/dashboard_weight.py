"""The dashboard's first-load page weight, as headless Chromium loads it (no cache).

    .venv/bin/python bench/dashboard_weight.py

Starts the sandbox, writes the demo project in a temporary folder, syncs it once with
`capisync run`, starts `capisync serve --port 0` on it (no token), then loads each page in a
fresh headless Chromium (/usr/bin/chromium via /usr/bin/chromedriver) with the cache
disabled, and sums from Chrome's performance log the bytes each response took on the wire
(Network.loadingFinished encodedDataLength: headers and body) and its body size as
received (Network.dataReceived). The baseline, measured in the same run, is the size of the
same files as capisync serves them from its package (the HTML as fetched, the static files
as installed): the browser's numbers must be that plus headers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService

from capisync.demo import write_demo_project
from capisync.sandbox import SandboxServer
from capisync.serve.web import STATIC_DIR

PAGES = ("/", "/syncs/purchases")


def start_serve(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "capisync.cli", "serve", "--port", "0"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"capisync serve on (http://[\d.]+:\d+)", line)
        if match:
            return proc, match.group(1)
    raise SystemExit("capisync serve did not start")


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = DriverService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def weigh(url: str) -> dict[str, tuple[int, int]]:
    """url -> (bytes on the wire, body bytes) of every response of a cold load of `url`."""
    driver = browser()
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.get(url)
        driver.execute_script("return document.readyState")
        urls: dict[str, str] = {}
        wire: dict[str, int] = {}
        body: dict[str, int] = {}
        for entry in driver.get_log("performance"):
            message: dict[str, Any] = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            rid = params.get("requestId")
            if message["method"] == "Network.responseReceived":
                urls[rid] = params["response"]["url"]
            elif message["method"] == "Network.dataReceived":
                body[rid] = body.get(rid, 0) + int(params["dataLength"])
            elif message["method"] == "Network.loadingFinished":
                wire[rid] = int(params["encodedDataLength"])
        # data: URLs (the empty favicon) cost no request
        return {
            urls[r]: (wire[r], body.get(r, 0))
            for r in wire
            if r in urls and urls[r].startswith("http")
        }
    finally:
        driver.quit()


def served_size(base: str, resource: str) -> int:
    """The baseline: the HTML as fetched, a static file as installed in the package."""
    path = resource.removeprefix(base)
    if path.startswith("/static/"):
        return (STATIC_DIR / path.removeprefix("/static/")).stat().st_size
    return len(httpx.get(resource).content)


def main() -> None:
    with SandboxServer() as sandbox, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo = write_demo_project(root)
        text = demo.config.read_text(encoding="utf-8")  # a schedule, shown on the pages
        text = text.replace("  purchases:\n", '  purchases:\n    schedule: "0 0 1 1 *"\n', 1)
        demo.config.write_text(text, encoding="utf-8")
        env = {**os.environ, "CAPISYNC_BASE_URL": sandbox.url}
        subprocess.run(
            [sys.executable, "-m", "capisync.cli", "run", "purchases"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        proc, base = start_serve(root, env)
        try:
            for page in PAGES:
                loaded = weigh(base + page)
                print(f"\n{page}  (cold load, cache disabled)")
                print(f"  {'resource':<42} {'wire B':>9} {'body B':>9} {'file B':>9}")
                totals = [0, 0, 0]
                for resource, (wire, body) in loaded.items():
                    file_size = served_size(base, resource)
                    name = resource.removeprefix(base) or "/"
                    print(f"  {name:<42} {wire:>9,} {body:>9,} {file_size:>9,}")
                    for i, n in enumerate((wire, body, file_size)):
                        totals[i] += n
                print(f"  {'total':<42} {totals[0]:>9,} {totals[1]:>9,} {totals[2]:>9,}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
