"""The dashboard in a real browser: Debian's headless Chromium (driven by Selenium through
/usr/bin/chromedriver, installed by .ci/run) against a real `capisync serve` process with a
token, the sandbox as Meta, and the demo project synced once before serve starts.

The tests run in file order on one server and one browser (module fixtures): log in, Run
now, read the new run's counts, the coverage and EMQ panels, a rejection, a search. Every
page's HTML is kept and checked for the demo's raw emails and phones and for the token.
Screenshots go to a fresh folder the tests print, and to $CAPISYNC_SCREENSHOTS_DIR when set.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from capisync.capi import emq
from capisync.config import load_project
from capisync.demo import (
    DEMO_EXPECTED,
    DEMO_ROWS,
    demo_rows,
    insert_rows,
    new_demo_row,
)
from capisync.quality import latest_quality
from capisync.runstats import FRESHNESS_LABELS, freshness_bucket
from capisync.sandbox import SandboxServer
from tests.integration.serve_process import EXE, TOKEN, ServeProcess, demo_project

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NEW_ROWS = 4
WAIT_SECONDS = 90  # the most a step may take on a loaded machine; never asserted on


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxServer) -> Path:
    """The demo project with `serve.token` and a schedule (midnight on January 1st: the
    page shows one, the tests never reach it), synced once by `capisync run`, Meta's figures
    fetched by `capisync quality`, then given NEW_ROWS more orders for "Run now" to send."""
    root = tmp_path_factory.mktemp("dashboard")
    demo_project(root, sandbox.url, schedule='"0 0 1 1 *"')
    cli(root, "run", "purchases")
    cli(root, "quality", "purchases")  # Meta's figures (the sandbox's), in the ledger
    now = datetime.now(UTC)
    rows = [new_demo_row(DEMO_ROWS + i, now) for i in range(NEW_ROWS)]
    insert_rows(root / "warehouse.duckdb", rows)
    return root


def cli(root: Path, *args: str) -> None:
    done = subprocess.run(
        [EXE, *args],
        cwd=root,
        env={**os.environ, "CAPISYNC_API_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[str]:
    """A real `capisync serve` on the project (tests/integration/serve_process.py)."""
    with ServeProcess(project / "capisync.yml") as serve:
        yield serve.url
        code = serve.stop(signal.SIGTERM)
        assert code == 143, serve.log
        assert TOKEN not in serve.log


@pytest.fixture(scope="module")
def shots() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="capisync-dashboard-shots-"))
    print(f"\nscreenshots: {folder}")
    yield folder
    target = os.environ.get("CAPISYNC_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for png in sorted(folder.glob("*.png")):
            shutil.copy2(png, Path(target) / png.name)
        print(f"screenshots copied to {target}")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


PAGES: list[str] = []  # the HTML of every page the tests loaded, for the leak check at the end


def load(browser: WebDriver, url: str) -> str:
    browser.get(url)
    return keep(browser)


def keep(browser: WebDriver) -> str:
    html = browser.page_source
    PAGES.append(html)
    return html


def screenshot(browser: WebDriver, shots: Path, name: str) -> None:
    """The whole page: the window is stretched to the page's height for the shot."""
    measure = "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
    for _ in range(2):  # the page reflows at the new size: measure again once
        height = int(browser.execute_script(measure)) + 140  # the browser's own bars
        browser.set_window_size(1280, min(max(height, 900), 6000))
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(shots / f"{name}.png"))
    browser.set_window_size(1280, 900)


def navigate(browser: WebDriver, by: str, selector: str) -> None:
    """Click a link or submit button and wait until the next page replaced this one (a
    click returns before the browser has loaded what it asked for)."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, selector).click()
    WebDriverWait(browser, WAIT_SECONDS).until(expected_conditions.staleness_of(page))


def cell_texts(browser: WebDriver, row_css: str) -> list[str]:
    row = browser.find_element(By.CSS_SELECTOR, row_css)
    return [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]


def test_without_the_token_the_dashboard_asks_for_it_and_login_sets_the_cookie(
    browser: WebDriver, server: str, shots: Path
) -> None:
    html = load(browser, server + "/syncs/purchases")
    assert browser.current_url == server + "/login"  # the browser is sent to the form
    assert 'id="token"' in html and "purchases" not in html
    screenshot(browser, shots, "01-login")
    browser.find_element(By.ID, "token").send_keys("not-the-token")
    navigate(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert "is not the one" in keep(browser)

    browser.find_element(By.ID, "token").send_keys(TOKEN)
    navigate(browser, By.CSS_SELECTOR, "form button[type=submit]")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.current_url == server + "/")
    cookie = browser.get_cookie("capisync_token")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Syncs"
    keep(browser)


def test_run_now_starts_a_run_that_appears_with_its_counts(
    browser: WebDriver, server: str, shots: Path
) -> None:
    load(browser, server + "/")
    screenshot(browser, shots, "02-syncs")
    navigate(browser, By.CSS_SELECTOR, "button[aria-label='Run purchases now']")
    notice = browser.find_element(By.ID, "notice").text
    match = re.fullmatch(r"Run (\d+) started\.", notice)
    assert match, notice
    run_id = match.group(1)

    def finished(driver: WebDriver) -> bool:
        driver.refresh()
        status = driver.find_element(By.CSS_SELECTOR, f"#run-{run_id} .badge").text
        return status != "running"

    WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.5).until(finished)
    keep(browser)
    header = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#runs thead th")]
    row = dict(zip(header, cell_texts(browser, f"#run-{run_id}"), strict=True))
    # the first run settled the 300 demo orders; this one sends only the new ones
    assert row["Status"] == "completed"
    assert (row["read"], row["new"], row["sent"]) == (
        f"{DEMO_ROWS + NEW_ROWS}",
        f"{NEW_ROWS}",
        f"{NEW_ROWS}",
    )
    # the rejected rows are evaluated again (retried) and rejected again; none is left pending
    rejected, expired = DEMO_EXPECTED["rejected"], DEMO_EXPECTED["expired"]
    assert (row["rejected"], row["retried"], row["expired"], row["pending"]) == (
        f"{rejected}",
        f"{rejected}",
        f"{expired}",
        "0",
    )
    assert browser.find_element(By.CSS_SELECTOR, "#history-chart canvas").is_displayed()
    browser.get_log("browser")  # the console so far; then one clean load of the page
    browser.refresh()
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors  # no script error, no asset refused by the Content-Security-Policy
    screenshot(browser, shots, "03-sync-detail")


def meta_score(root: Path) -> float:
    """Meta's EMQ for Purchase as `capisync quality` stored it (capisync's own events)."""
    project = load_project(root / "capisync.yml", env={**os.environ, "CAPISYNC_API_TOKEN": TOKEN})
    snapshot = latest_quality(project, "purchases")
    assert snapshot is not None
    event = snapshot.event("Purchase", agent=True)
    assert event is not None and event.composite_score is not None
    return event.composite_score


def test_coverage_table_and_emq_estimate_match_what_meta_received(
    browser: WebDriver, server: str, sandbox: SandboxServer, project: Path, shots: Path
) -> None:
    load(browser, server + "/syncs/purchases#coverage")
    newest = [r.event for r in sandbox.store.events()][-NEW_ROWS:]  # the last run's events
    carried: Counter[str] = Counter()
    for event in newest:
        carried.update(emq.identifiers(event["user_data"].keys()))
    shares = {k: carried[k] / len(newest) for k in emq.MATCH_KEY_NAMES}

    table = browser.find_element(By.CSS_SELECTOR, "table.coverage[data-event='Purchase']")
    shown = {}
    for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        key = tr.find_element(By.CSS_SELECTOR, "th").text
        shown[key] = tr.find_elements(By.CSS_SELECTOR, "td")[1].text
    assert shown == {k: f"{shares[k]:.0%}" for k in emq.MATCH_KEY_NAMES}

    estimate = emq.estimate_from_coverage(shares)
    assert browser.find_element(By.CSS_SELECTOR, ".emq-estimate").text == f"{estimate:.1f}"
    meta = meta_score(project)
    assert browser.find_element(By.CSS_SELECTOR, ".emq-meta").text == f"{meta:.1f}"
    difference = browser.find_element(By.CSS_SELECTOR, ".emq-diff").text
    assert difference == f"{round(estimate - meta, 1):+.1f}"
    assert browser.find_element(By.ID, "emq-formula").text == emq.FORMULA_TEXT
    dedup = browser.find_element(By.ID, "dedup").text
    assert "{event_name}:{order_id}" in dedup
    # freshness of the last run: send time (here: when the sandbox received it) - event_time
    received = sandbox.store.events()[-NEW_ROWS:]
    ages = Counter(freshness_bucket(r.received_at - r.event["event_time"]) for r in received)
    rows = browser.find_elements(By.CSS_SELECTOR, "#freshness tbody tr")
    shown_ages = {
        tr.find_element(By.CSS_SELECTOR, "th").text: tr.find_elements(By.CSS_SELECTOR, "td")[0].text
        for tr in rows
    }
    assert shown_ages == {label: str(ages[label]) for label in FRESHNESS_LABELS}
    browser.set_window_size(1280, 2000)  # the panel alone, as a user scrolls to it
    browser.find_element(By.ID, "coverage").screenshot(str(shots / "04-coverage-emq.png"))
    browser.set_window_size(1280, 900)


def test_a_rejection_shows_how_to_fix_and_its_rows_and_search_finds_one(
    browser: WebDriver, server: str, shots: Path
) -> None:
    load(browser, server + "/syncs/purchases#rejections")
    navigate(browser, By.LINK_TEXT, "no_customer_keys")
    keep(browser)
    assert "at least one of" in browser.find_element(By.ID, "how-to-fix").text
    ids = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".id-list code")]
    assert ids == ["ord-10005", "ord-10105", "ord-10205"]
    screenshot(browser, shots, "05-rejection")

    browser.find_element(By.ID, "identifier").send_keys("ord-10017")
    navigate(browser, By.CSS_SELECTOR, "form.search button")
    result = browser.find_element(By.ID, "search-result").text
    keep(browser)
    assert "rejected" in result and "purchase_missing_value_or_currency" in result
    screenshot(browser, shots, "06-search")

    email = next(str(r["email"]) for r in demo_rows(datetime.now(UTC)) if r["email"])
    search = browser.find_element(By.ID, "identifier")
    search.clear()
    search.send_keys(email)
    navigate(browser, By.CSS_SELECTOR, "form.search button")
    assert "looks like an email address" in keep(browser)


def test_the_payload_preview_shows_hashes_and_masks_unhashed_identifiers(
    browser: WebDriver, server: str, shots: Path
) -> None:
    html = load(browser, server + "/syncs/purchases/preview")
    payloads = browser.find_elements(By.CSS_SELECTOR, ".payload pre")
    assert len(payloads) == 3
    assert re.search(r'"em": "[0-9a-f]{64}"', html)
    assert "&lt;sent as is, not shown&gt;" in html  # client_ip_address of web orders
    screenshot(browser, shots, "07-payload-preview")


def raw_values() -> set[str]:
    """The demo's emails and phones, as written in the warehouse and as bare digits."""
    values: set[str] = set()
    for row in demo_rows(datetime.now(UTC)):
        for key in ("email", "phone"):
            if row[key]:
                raw = str(row[key]).strip()
                values.add(raw)
                digits = re.sub(r"\D", "", raw)
                if len(digits) >= 9:
                    values.add(digits)
    return values


def test_no_page_holds_a_raw_email_phone_or_the_token() -> None:
    assert len(PAGES) >= 8  # every earlier test's pages
    leaks = {v for v in raw_values() for html in PAGES if v in html}
    assert not leaks
    assert not any(TOKEN in html for html in PAGES)


def test_log_out_forgets_the_cookie(browser: WebDriver, server: str) -> None:
    load(browser, server + "/")
    navigate(browser, By.CSS_SELECTOR, "form.logout button")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.current_url == server + "/login")
    assert browser.get_cookie("capisync_token") is None
    load(browser, server + "/syncs/purchases")
    assert browser.current_url == server + "/login"  # logged out: asked for the token again
