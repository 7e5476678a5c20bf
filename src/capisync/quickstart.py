"""`capisync quickstart`: a real sync from a demo DuckDB warehouse to the local sandbox.

Three runs over real HTTP: the first sends the demo orders (and reports the rejected and the
expired ones), the second sends nothing, the third sends only the order added in between.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from capisync import report
from capisync.config import load_project
from capisync.demo import (
    DEMO_EXPECTED,
    DEMO_ROWS,
    PROJECT_YML,
    insert_rows,
    new_demo_row,
    write_demo_project,
)
from capisync.errors import CapisyncError, ConfigError
from capisync.sandbox import SandboxServer
from capisync.sync import RunReport, run_sync

SYNC = "purchases"


def run_quickstart(directory: Path, console: Console) -> None:
    _prepare(directory)
    demo = write_demo_project(directory)
    console.print(
        f"Demo project: {demo.config} (model: models/purchases.sql, warehouse: "
        f"{DEMO_ROWS} orders in {demo.warehouse.name})"
    )
    with SandboxServer() as sandbox:
        console.print(f"Sandbox (a local Graph API that validates like Meta): {sandbox.url}")
        project = load_project(demo.config, env={**os.environ, "CAPISYNC_BASE_URL": sandbox.url})

        console.rule("Run 1: send the demo orders")
        first = _run(project, console)
        _expect(first, DEMO_EXPECTED)

        console.rule("Run 2: the same model again")
        second = _run(project, console)
        _expect(second, {"read": DEMO_ROWS, "sent": 0})

        console.rule("Run 3: one order added to the warehouse")
        insert_rows(demo.warehouse, [new_demo_row(DEMO_ROWS, datetime.now(UTC))])
        third = _run(project, console)
        _expect(third, {"read": DEMO_ROWS + 1, "sent": 1})

        received = sandbox.store.events()
        console.rule("What the sandbox received")
        console.print(
            f"{len(received)} events in {len(sandbox.store.requests())} requests; "
            "one of them, as Meta would see it:"
        )
        report.print_event(console, received[-1].event)
    console.print(
        f"\nNext, in {directory}/ (with .venv/bin/ on your PATH if you installed with the "
        "Quickstart command): `capisync sandbox &`, then `capisync check`, `capisync run`, "
        "`capisync runs`, `capisync rejections purchases`. To send to Meta, set "
        "destination.base_url to https://graph.facebook.com and export META_DATASET_ID and "
        "META_ACCESS_TOKEN.",
        markup=False,
    )


def _run(project: object, console: Console) -> RunReport:
    with report.RunProgress(console, SYNC) as progress:
        result = run_sync(project, SYNC, progress=progress.update)  # type: ignore[arg-type]
    report.print_run(console, result)
    return result


def _expect(result: RunReport, expected: dict[str, int]) -> None:
    wrong = {k: (result.counts[k], v) for k, v in expected.items() if result.counts[k] != v}
    if result.status != "completed" or wrong:
        detail = ", ".join(f"{k}: got {got}, expected {want}" for k, (got, want) in wrong.items())
        raise CapisyncError(
            f"the quickstart run did not go as expected ({result.status}; {detail or result.error})"
        )


def _prepare(directory: Path) -> None:
    """Start from a clean demo, but never overwrite a project that is not the demo."""
    config = directory / "capisync.yml"
    if config.exists() and config.read_text(encoding="utf-8") != PROJECT_YML:
        raise ConfigError(
            [
                f"{config} exists and is not the quickstart demo; pass another folder, "
                "e.g. `capisync quickstart /tmp/capisync-demo`"
            ]
        )
    shutil.rmtree(directory / ".capisync", ignore_errors=True)
