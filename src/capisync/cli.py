"""The `capisync` command: a thin layer over the library; every command has an example."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec

import typer
from rich.console import Console
from rich.text import Text

from capisync import __version__, report
from capisync.capi import is_compiled
from capisync.config import DEFAULT_PROJECT_FILE, Project, load_history, load_project
from capisync.errors import CapisyncError, ConfigError

app = typer.Typer(
    name="capisync",
    help="Sync conversion events from a SQL model to Meta's Conversions API.\n\n"
    "Example: capisync init && capisync check && capisync run",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# piped into a log, lines are not cut at 80 columns
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
P = ParamSpec("P")

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="CAPISYNC_CONFIG", help="the project file (default: capisync.yml)"
    ),
]


def _project(path: Path) -> Project:
    return load_project(path)


def _guarded(command: Callable[P, None]) -> Callable[P, None]:
    """Turn capisync's own errors into a clear message and their exit code (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except CapisyncError as exc:
            err.print(Text.assemble(("error: ", "bold red"), str(exc)))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: rows not yet acknowledged stay pending and are sent next run")
            raise typer.Exit(130) from None

    return wrapper


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="print the version")] = False,
) -> None:
    if version:
        core = "compiled" if is_compiled() else "interpreted, not compiled at install"
        out.print(f"capisync {__version__} (core {core})")
        raise typer.Exit()


@app.command()
@_guarded
def init(
    directory: Annotated[Path, typer.Argument(help="where to create the project")] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="overwrite an existing project file")
    ] = False,
) -> None:
    """Scaffold a project file and an example model over a demo DuckDB warehouse.

    Example: capisync init my-project && cd my-project && capisync check
    """
    from capisync.demo import write_demo_project

    if (directory / DEFAULT_PROJECT_FILE).exists() and not force:
        raise ConfigError(
            [
                f"{directory / DEFAULT_PROJECT_FILE} already exists "
                "(use --force to overwrite it, or pick another folder)"
            ]
        )
    demo = write_demo_project(directory)
    out.print(
        f"Created {demo.config}, {demo.root / 'models' / 'purchases.sql'} and the demo "
        f"warehouse {demo.warehouse}."
    )
    out.print(
        "Next: start the sandbox in another terminal with `capisync sandbox`, then run "
        "`capisync check` and `capisync run` in that folder."
    )


@app.command()
@_guarded
def check(
    sync: Annotated[str | None, typer.Argument(help="the sync to check (default: all)")] = None,
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    sample: Annotated[int, typer.Option(help="how many model rows to try", min=1)] = 200,
    payloads: Annotated[int, typer.Option(help="how many built payloads to show")] = 2,
    offline: Annotated[bool, typer.Option("--offline", help="skip the connection test")] = False,
) -> None:
    """Validate the config, run the model on a sample, show the mapping and built payloads.

    Example: capisync check purchases --sample 500
    """
    from capisync.checks import check_sync

    project = _project(config)
    names = [sync] if sync else list(project.syncs)
    healthy = True
    for name in names:
        result = check_sync(project, name, sample=sample, connect=not offline)
        report.print_check(out, result, payloads=payloads)
        healthy = healthy and result.ok
    if not healthy:
        raise typer.Exit(1)


@app.command()
@_guarded
def run(
    syncs: Annotated[list[str] | None, typer.Argument(help="syncs to run (default: all)")] = None,
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="build and validate, send nothing")
    ] = False,
    test_event_code: Annotated[
        str | None,
        typer.Option(
            "--test-event-code",
            help="a test run: send to Events Manager > Test Events and mark no row sent "
            "(Meta still processes test events: see docs/runs.md)",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="send at most N events, then stop reading"),
    ] = None,
) -> None:
    """Run syncs now: send new rows, report what was sent, rejected and why, and expired.

    Exit code 0 when every run completed (rejected rows are reported, not a failure); 3 when
    the warehouse or the ledger fails (nothing is sent that cannot be recorded); 130 after
    Ctrl-C and 143 after SIGTERM (batches in flight are recorded first).
    Example: capisync run purchases --test-event-code TEST12345 --limit 10
    """
    from capisync.errors import LedgerError
    from capisync.sync import ensure_syncs, run_sync

    project = _project(config)
    failed = 0
    for name in ensure_syncs(project, list(syncs or [])):
        try:
            with report.RunProgress(err, name) as progress:
                result = run_sync(
                    project,
                    name,
                    dry_run=dry_run,
                    test_event_code=test_event_code,
                    limit=limit,
                    progress=progress.update,
                )
        except CapisyncError as exc:
            done = getattr(exc, "report", None)
            if done is not None and (done.counts["read"] or isinstance(exc, LedgerError)):
                # what was done before it failed; the error itself is said once, below
                done.error = done.error.replace(str(exc), "").strip() if done.error else None
                report.print_run(out, done)
            raise
        report.print_run(out, result)
        if result.status == "interrupted":
            raise typer.Exit(result.exit_code or 130)  # a scheduler stopped us: stop all
        failed += not result.ok
    if failed:
        raise typer.Exit(1)


@app.command()
@_guarded
def runs(
    sync: Annotated[str | None, typer.Argument(help="only this sync")] = None,
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    limit: Annotated[int, typer.Option(help="how many runs to list", min=1)] = 20,
) -> None:
    """Show the run history, newest first (a run left running by a process that died is
    closed first, as abandoned, with the counts the ledger holds for it).

    Example: capisync runs purchases --limit 5
    """
    from capisync.errors import LedgerError
    from capisync.state import Ledger
    from capisync.sync import close_abandoned_runs

    history = load_history(config)
    if sync is not None:
        history.check_sync(sync)
    ledger = Ledger(history.state_location)
    try:
        # a run left "running" by a process that died is shown closed, with its true counts
        with contextlib.suppress(LedgerError):  # a read-only ledger is shown as it is
            close_abandoned_runs(ledger, [sync] if sync else list(history.syncs))
        report.print_runs(out, ledger.runs(sync, limit=limit))
    finally:
        ledger.close()


@app.command()
@_guarded
def rejections(
    sync: Annotated[str, typer.Argument(help="the sync")],
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    limit: Annotated[int, typer.Option(help="how many rows to list per reason", min=1)] = 10,
) -> None:
    """List the rows currently rejected, grouped by reason, with how to fix each.

    Example: capisync rejections purchases
    """
    from capisync.state import Ledger

    history = load_history(config)
    history.check_sync(sync)
    ledger = Ledger(history.state_location)
    try:
        report.print_rejections(out, ledger.rejections(sync), limit=limit)
    finally:
        ledger.close()


@app.command()
@_guarded
def sandbox(
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8765,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    access_token: Annotated[str, typer.Option(help="the one token it accepts")] = "sandbox-token",
    app_secret: Annotated[str | None, typer.Option(help="require appsecret_proof")] = None,
    latency_ms: Annotated[float, typer.Option(help="added latency per events request")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="share of requests answered with a 5xx")] = 0.0,
    throttle_after: Annotated[
        int | None, typer.Option(help="throttle after N requests a window")
    ] = None,
    throttle_window_s: Annotated[float, typer.Option(help="the throttling window")] = 60.0,
    timeout_rate: Annotated[float, typer.Option(help="share of requests that hang")] = 0.0,
    hang_s: Annotated[float, typer.Option(help="how long a hanging request hangs")] = 30.0,
    token_expired: Annotated[bool, typer.Option(help="answer every call with code 190")] = False,
) -> None:
    """Serve the local Graph API sandbox: Meta's validation and errors, on your machine.

    Example: capisync sandbox --port 8765 --latency-ms 150
    """
    from capisync.sandbox import SandboxConfig, serve

    cfg = SandboxConfig(
        access_token=access_token,
        app_secret=app_secret,
        latency_ms=latency_ms,
        error_rate=error_rate,
        throttle_after=throttle_after,
        throttle_window_s=throttle_window_s,
        timeout_rate=timeout_rate,
        hang_s=hang_s,
        token_expired=token_expired,
    )
    err.print(
        f"capisync sandbox on http://{host}:{port} (it accepts the token "
        f"'{access_token if access_token == 'sandbox-token' else '<--access-token>'}'; "
        "what arrived: /_sandbox/events)"
    )
    serve(cfg, host=host, port=port)


@app.command()
@_guarded
def quickstart(
    directory: Annotated[Path, typer.Argument(help="where to create the demo project")] = Path(
        "capisync-quickstart"
    ),
) -> None:
    """Create the demo project, serve the sandbox, and run a real sync three times.

    Run 1 sends the demo orders, run 2 sends nothing new, run 3 sends the one order added
    between them. Example: capisync quickstart /tmp/demo
    """
    from capisync.quickstart import run_quickstart

    run_quickstart(directory, out)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
