"""The `capisync` command: a thin layer over the library; every command has an example."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Any, ParamSpec, cast

import typer
from rich.console import Console
from rich.text import Text

from capisync import __version__, jsonout, report
from capisync.capi import is_compiled
from capisync.config import DEFAULT_PROJECT_FILE, Project, load_history, load_project
from capisync.errors import (
    INTERRUPTED,
    TERMINATED,
    CapisyncError,
    ConfigError,
    LedgerError,
    is_retryable,
    worst_exit_code,
)

app = typer.Typer(
    name="capisync",
    help="Sync conversion events from a SQL model to Meta's Conversions API.\n\n"
    "Example: capisync init && capisync check && capisync run",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class _StdoutUntilClosed(io.TextIOBase):
    """sys.stdout (looked up on each write, as test runners swap it) until its reader goes
    away (`capisync run | head -2`): from then on output is dropped, quietly, and the command
    finishes its work and exits with its own code (docs/exit-codes.md), like `git log | head`."""

    closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                sys.stdout.write(text)
            except BrokenPipeError:
                self._drop_from_now_on()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._drop_from_now_on()

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def _drop_from_now_on(self) -> None:
        self.closed_by_reader = True
        # what is still buffered would fail again when Python flushes stdout at exit
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


# piped into a log, lines are not cut at 80 columns
out = Console(
    file=cast(IO[str], _StdoutUntilClosed()),
    highlight=False,
    width=None if sys.stdout.isatty() else 120,
)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
P = ParamSpec("P")

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="CAPISYNC_CONFIG", help="the project file (default: capisync.yml)"
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="print one JSON document on stdout instead of the tables (docs/json.md); "
        "errors stay on stderr, the exit code is the same",
    ),
]


def _print_json(doc: object) -> None:
    """The one JSON document a `--json` command prints on stdout (docs/json.md)."""
    out.file.write(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    out.file.flush()


def _project(path: Path) -> Project:
    """The project file, loaded and validated; its warnings (a secret written in the file)
    are printed to stderr, naming the field, never the value."""
    project = load_project(path)
    for warning in project.warnings:
        err.print(Text.assemble(("warning: ", "bold yellow"), f"{project.path.name}: {warning}"))
    return project


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
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own: an exit code, or a usage error it words itself
        except Exception as exc:
            # a bug: said as a run's is (_sync_failed), never as a traceback quoting values
            err.print(Text.assemble(("error: ", "bold red"), _bug_text(exc)))
            raise typer.Exit(1) from None

    return wrapper


def _bug_text(exc: BaseException) -> str:
    """An unexpected exception in words: its type and where it was raised, not its message
    (which might quote a row's value or a secret)."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" at {Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}" if frame else ""
    return f"unexpected {type(exc).__name__}{where}. This is a bug in capisync: please report it"


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="print the version")] = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="CAPISYNC_LOG_FORMAT",
            help="log lines on stderr as 'text' or 'json' (one object a line); progress lines "
            "go there when stderr is not a terminal. Give it before the command: "
            "capisync --log-format json run",
        ),
    ] = "text",
) -> None:
    from capisync import logs

    chosen = log_format.strip().lower()
    if chosen not in logs.LOG_FORMATS:
        raise typer.BadParameter(
            f"{log_format!r}: expected one of {', '.join(logs.LOG_FORMATS)}",
            param_hint="--log-format",
        )
    logs.configure(chosen)
    # with JSON lines, what commands print on stderr becomes log records too: one per line
    err.file = logs.LinesToLog() if chosen == "json" else None  # type: ignore[assignment]
    err.soft_wrap = chosen == "json"
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
    as_json: JsonOption = False,
) -> None:
    """Validate the config, run the model on a sample, show the mapping and built payloads.

    Every sync is checked, whatever another one does; the exit code is the worst of theirs
    (docs/exit-codes.md).

    Example: capisync check purchases --sample 500
    """
    from capisync.checks import check_sync
    from capisync.serve.alerts import describe_alerts

    project = _project(config)
    if (alerts := describe_alerts(project.config.alerts)) is not None and not as_json:
        out.print(alerts)
    for problem in project.serve_problems:  # `run` works without them; `serve` refuses
        err.print(
            Text.assemble(
                ("warning: ", "bold yellow"),
                f"{project.path.name}: {problem} (`capisync serve` refuses to start until "
                "it is set; `capisync run` does not need it)",
            )
        )
    names = [sync] if sync else list(project.syncs)
    for name in names:
        project.sync(name)  # an unknown name is a usage error before any work
    codes: dict[str, int] = {}
    shown: list[dict[str, Any]] = []
    for name in names:
        try:
            result = check_sync(project, name, sample=sample, connect=not offline)
        except Exception as exc:  # one broken sync never hides the others' results
            codes[name] = _sync_failed(name, exc)
            shown.append(jsonout.failed_sync_dict(name, _failure_text(exc), codes[name]))
            continue
        codes[name] = result.failure.exit_code if result.failure is not None else 0
        if as_json:
            shown.append(jsonout.check_dict(result, payloads=payloads))
        else:
            report.print_check(out, result, payloads=payloads)
    if as_json:
        _print_json({"syncs": shown, "exit_code": worst_exit_code(codes.values())})
    _exit_with_worst(codes)


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
    as_json: JsonOption = False,
) -> None:
    """Run syncs now: send new rows, report what was sent, rejected and why, and expired.

    Every sync runs, whatever another one does; the exit code is the worst of theirs (0 when
    every run completed: rejected rows are reported, not a failure; 130 after Ctrl-C and 143
    after SIGTERM, batches in flight recorded first; see docs/exit-codes.md).
    Example: capisync run purchases --test-event-code TEST12345 --limit 10
    """
    from capisync.sync import check_test_event_code, ensure_syncs

    check_test_event_code(test_event_code)
    report.progress_every(os.environ)  # a bad value is a usage error before any sync runs
    project = _project(config)
    codes: dict[str, int] = {}
    shown: list[dict[str, Any]] | None = [] if as_json else None
    for name in ensure_syncs(project, list(syncs or [])):
        codes[name] = _run_one(
            project,
            name,
            dry_run=dry_run,
            test_event_code=test_event_code,
            limit=limit,
            shown=shown,
        )
        if codes[name] in (INTERRUPTED, TERMINATED):
            break  # the person (or the scheduler) asked the whole command to stop
    if shown is not None:
        _print_json({"syncs": shown, "exit_code": worst_exit_code(codes.values())})
    _exit_with_worst(codes)


def _run_one(
    project: Project,
    name: str,
    *,
    dry_run: bool,
    test_event_code: str | None,
    limit: int | None,
    shown: list[dict[str, Any]] | None = None,
) -> int:
    """Run one sync and show its summary (or, with `shown`, add its JSON there); its exit
    code. Its failure never stops the others."""
    code, doc = _run_and_print(project, name, dry_run, test_event_code, limit, shown is None)
    if shown is not None:
        shown.append(doc)
    _log_run_end(doc)
    return code


def _run_and_print(
    project: Project,
    name: str,
    dry_run: bool,
    test_event_code: str | None,
    limit: int | None,
    tables: bool,
) -> tuple[int, dict[str, Any]]:
    """Run one sync, print its summary when `tables`; its exit code and its JSON."""
    from capisync.sync import run_sync

    every = report.progress_every(os.environ)
    try:
        with report.RunProgress(err, name, every=every) as progress:
            result = run_sync(
                project,
                name,
                dry_run=dry_run,
                test_event_code=test_event_code,
                limit=limit,
                progress=progress.update,
                waiting=lambda holder: err.print(
                    f"{name}: waiting for the sync's lock (on_locked: wait), {holder}"
                ),
            )
    except Exception as exc:
        done = getattr(exc, "report", None)
        doc = None if done is None else jsonout.run_report_dict(done)
        if tables and done is not None and (done.counts["read"] or isinstance(exc, LedgerError)):
            # what was done before it failed; the error itself is said once, below
            done.error = done.error.replace(str(exc), "", 1).strip() if done.error else None
            report.print_run(out, done)
        code = _sync_failed(name, exc)
        _alert(project, name, done, exc)
        if doc is None:
            return code, jsonout.failed_sync_dict(name, _failure_text(exc), code)
        return code, {**doc, "exit_code": code}
    if tables:
        report.print_run(out, result)
    elif result.error:  # the summary would say it: stdout is for the JSON alone
        err.print(Text.assemble(("error: ", "bold red"), f"sync '{name}': ", result.error))
    _alert(project, name, result)
    return jsonout.run_exit_code(result), jsonout.run_report_dict(result)


def _log_run_end(doc: dict[str, Any]) -> None:
    """A log line when a run ends (a log collector's record of it): status, counts, exit
    code; only when stderr is a log or JSON lines were asked for (logs.event_lines_wanted)."""
    from capisync import logs

    if not logs.event_lines_wanted(err.is_terminal):
        return
    keep = ("sync", "run_id", "status", "exit_code", "seconds", "test_run", "dry_run", "counts")
    fields = {"event": "run_finished", **{k: doc[k] for k in keep if k in doc}}
    if doc.get("reasons"):
        fields["reasons"] = doc["reasons"]
    logging.getLogger("capisync.run").info(
        f"{doc['sync']}: run ended {doc['status']}, exit {doc['exit_code']}",
        extra={"capisync": fields},
    )


def _failure_text(exc: Exception) -> str:
    """What `_sync_failed` says of an exception, for a JSON document: a capisync error's
    message (safe by design), a bug's type only (its message may quote a value)."""
    if isinstance(exc, CapisyncError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: a bug in capisync, please report it"


def _alert(project: Project, name: str, run: Any, exc: Exception | None = None) -> None:
    """With `alerts:` in the project file, post what the run fires (docs/alerts.md)."""
    from capisync.serve.alerts import alerts_after_run, could_not_start

    if project.config.alerts is not None:
        done = run if run is not None else could_not_start(name, exc or RuntimeError())
        for alert in alerts_after_run(project, done):
            err.print(f"{name}: alert posted: {alert.kind}{' (resolved)' * alert.resolved}")


def _sync_failed(name: str, exc: Exception) -> int:
    """Say which sync failed and why (never a raw value); the exit code it means."""
    if isinstance(exc, CapisyncError):
        err.print(Text.assemble(("error: ", "bold red"), f"sync '{name}': ", str(exc)))
        return exc.exit_code
    err.print(
        Text.assemble(
            ("error: ", "bold red"),
            f"sync '{name}': {_bug_text(exc)} with this line; the other syncs still ran",
        )
    )
    return 1


def _exit_with_worst(codes: dict[str, int]) -> None:
    """Exit with the worst of the syncs' codes (docs/exit-codes.md), after a one-line tally
    when several syncs ran and one of them did not end well."""
    worst = worst_exit_code(codes.values())
    if len(codes) > 1 and worst:
        tally = ", ".join(
            f"{name} " + ("ok" if code == 0 else f"exit {code}") for name, code in codes.items()
        )
        if worst in (INTERRUPTED, TERMINATED):
            advice = "stopped"
        else:
            advice = "try again later" if is_retryable(worst) else "a person must act"
        err.print(f"syncs: {tally}; exit {worst} ({advice})")
    if worst:
        raise typer.Exit(worst)


@app.command()
@_guarded
def runs(
    sync: Annotated[str | None, typer.Argument(help="only this sync")] = None,
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    limit: Annotated[int, typer.Option(help="how many runs to list", min=1)] = 20,
    as_json: JsonOption = False,
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
    if _no_ledger_yet(history.state_location, as_json=as_json):
        if as_json:
            _print_json({"runs": []})
        return
    ledger = Ledger(history.state_location)
    try:
        # a run left "running" by a process that died is shown closed, with its true counts
        with contextlib.suppress(LedgerError):  # a read-only ledger is shown as it is
            close_abandoned_runs(ledger, [sync] if sync else list(history.syncs))
        found = ledger.runs(sync, limit=limit)
        if as_json:
            _print_json({"runs": [jsonout.run_record_dict(r) for r in found]})
        else:
            report.print_runs(out, found)
    finally:
        ledger.close()


def _no_ledger_yet(location: str, *, as_json: bool = False) -> bool:
    """Say so when the SQLite ledger file does not exist yet: a read-only command creates
    nothing (no `.capisync/`, no empty ledger). A server ledger (PostgreSQL) is always opened.
    With `as_json`, nothing is said (the command prints its empty JSON document)."""
    from capisync.state.dialects import sqlite_file

    file = sqlite_file(location)
    if file is None or file.exists():
        return False
    if as_json:
        return True
    with contextlib.suppress(ValueError):
        file = file.relative_to(Path.cwd())
    out.print(f"no runs yet (the ledger {file} does not exist)")
    return True


@app.command()
@_guarded
def rejections(
    sync: Annotated[str, typer.Argument(help="the sync")],
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    limit: Annotated[
        int, typer.Option("--limit", help="how many identifiers to list per reason", min=1)
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List the rows currently rejected: every one counted, by reason, with how to fix each,
    and up to --limit identifiers per reason.

    Example: capisync rejections purchases --limit 50
    """
    from capisync.state import Ledger, RejectionSummary

    history = load_history(config)
    history.check_sync(sync)
    if _no_ledger_yet(history.state_location, as_json=as_json):
        if as_json:
            _print_json(jsonout.rejections_dict(sync, RejectionSummary(0, [])))
        return
    ledger = Ledger(history.state_location)
    try:
        summary = ledger.rejection_summary(sync, examples=limit)
        # the last real run's rejected rows without an identifier: counted, never stored
        last = next(
            (r for r in ledger.runs(sync) if r.test_event_code is None and r.status != "reset"),
            None,
        )
        unidentified = None
        if last is not None:
            unidentified = (last.id, int(last.details.get("unidentified") or 0))
        if as_json:
            _print_json(jsonout.rejections_dict(sync, summary, unidentified=unidentified))
        else:
            report.print_rejections(out, summary, unidentified=unidentified)
    finally:
        ledger.close()


@app.command()
@_guarded
def status(
    sync: Annotated[str, typer.Argument(help="the sync")],
    identifier: Annotated[str, typer.Argument(help="the row's identifier (an order id)")],
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    as_json: JsonOption = False,
) -> None:
    """Say what became of one row: sent (when, run, event_id, Meta's fbtrace_id), rejected
    (why, and how to fix it), expired, baseline, or not in the ledger (and why that may be).

    Example: capisync status purchases o-1042 --json
    """
    from capisync.rowstatus import refuse_personal, refuse_unreadable, row_status, without_ledger
    from capisync.state import Ledger

    refuse_unreadable(identifier)
    refuse_personal(identifier)  # before anything: never repeated, never looked up
    history = load_history(config)
    history.check_sync(sync)
    if _no_ledger_yet(history.state_location, as_json=as_json):
        if as_json:
            _print_json(jsonout.row_status_dict(without_ledger(sync, identifier)))
        return
    ledger = Ledger(history.state_location)
    try:
        found = row_status(ledger, sync, identifier)
    finally:
        ledger.close()
    if as_json:
        _print_json(jsonout.row_status_dict(found))
    else:
        report.print_row_status(out, found)


@app.command()
@_guarded
def reset(
    sync: Annotated[str, typer.Argument(help="the sync")],
    identifier: Annotated[
        list[str] | None,
        typer.Option("--identifier", help="forget this row (repeat the option for more)"),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="forget the rows recorded on or after DATE (2026-11-01, UTC) or time"
        ),
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="forget every row of the sync")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
) -> None:
    """Forget what a sync sent, so that the next run sends those rows again (same event_id).

    Asks for confirmation, showing how many rows, unless --yes; refuses without a terminal
    and without --yes (exit 2). Exit 4 while a run of the sync holds its lock. Meta may
    count an event it receives twice: read docs/resend.md first.
    Example: capisync reset purchases --identifier o-1042 --identifier o-1043
    """
    from capisync.resend import choice_of, describe
    from capisync.resend import reset as reset_rows
    from capisync.rowstatus import refuse_personal, refuse_unreadable

    for ident in identifier or ():
        refuse_unreadable(ident)
        refuse_personal(ident)
    choice = choice_of(list(identifier or ()), since, everything)
    if not yes and not sys.stdin.isatty():
        raise ConfigError(
            [
                "capisync reset asks for confirmation on a terminal, and stdin is not one: "
                "pass --yes to reset from a script (read docs/resend.md first)"
            ],
            "the command line",
        )
    project = _project(config)

    def confirm(counts: dict[str, int]) -> bool:
        n = sum(counts.values())
        by_state = ", ".join(f"{state} {k:,}" for state, k in sorted(counts.items()))
        out.print(
            f"{sync}: {describe(choice)}: {n:,} {'row' if n == 1 else 'rows'} in the ledger"
            + (f" ({by_state})" if by_state else ""),
            markup=False,
        )
        if yes or not n:
            return True
        return typer.confirm(
            "Forget them? The next run sends them to Meta again (docs/resend.md)", default=False
        )

    done = reset_rows(project, sync, choice, confirm=confirm)
    if done is None:
        out.print("nothing was reset")
        return
    where = (
        f" and {done.writeback_rows:,} from the write-back table"
        if done.writeback_rows is not None
        else ""
    )
    if not done.rows and not done.writeback_rows:
        out.print(
            f"nothing to forget: the ledger holds none of these rows (history entry "
            f"{done.reset_id}); the next `capisync run {sync}` sends them if the model returns "
            "them and they are new"
        )
        return
    them = "it" if done.rows == 1 else "them"
    out.print(
        f"forgot {done.rows:,} {'row' if done.rows == 1 else 'rows'}{where} (history entry "
        f"{done.reset_id}): the next `capisync run {sync}` sends {them} again if the model "
        f"returns {them}"
    )


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
    datasets: Annotated[
        list[str] | None,
        typer.Option(
            "--datasets",
            help="the only dataset ids that exist, comma-separated or repeated "
            "(others answer 100/33; default: any all-digit id)",
        ),
    ] = None,
    reject_event_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--reject-event-ids",
            help="event_ids refused as invalid data (100/2804019), comma-separated or repeated",
        ),
    ] = None,
    expired_versions: Annotated[
        str,
        typer.Option(
            "--expired-versions",
            help="a call to an expired API version: 'fail' (code 2635) or 'upgrade' (served "
            "as the oldest current version)",
        ),
    ] = "fail",
) -> None:
    """Serve the local Graph API sandbox: Meta's validation and errors, on your machine.

    Example: capisync sandbox --port 8765 --latency-ms 150 --datasets 1234567890
    """
    import errno

    from capisync.sandbox import SandboxConfig, serve
    from capisync.sandbox.config import patch_config

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
    listed = {
        "datasets": None if datasets is None else _comma_separated(datasets),
        "reject_event_ids": _comma_separated(reject_event_ids or []),
        "expired_versions": expired_versions,
    }
    # the same checks as POST /_sandbox/config: one rule for both ways of setting a knob
    problems = patch_config(cfg, listed)
    if problems:
        flags = "; ".join(
            "--" + name.replace("_", "-") + ":" + why
            for name, _, why in (p.partition(":") for p in problems)
        )
        err.print(Text.assemble(("error: ", "bold red"), f"capisync sandbox: {flags}"))
        raise typer.Exit(2)
    if cfg.datasets is not None and not all(d.isascii() and d.isdigit() for d in cfg.datasets):
        err.print(
            Text.assemble(
                ("error: ", "bold red"), "capisync sandbox: --datasets: expected numeric ids"
            )
        )
        raise typer.Exit(2)
    err.print(
        f"capisync sandbox on http://{host}:{port} (it accepts the token "
        f"'{access_token if access_token == 'sandbox-token' else '<--access-token>'}'; "
        "what arrived: /_sandbox/events)"
    )
    try:
        serve(cfg, host=host, port=port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        # a person must act (exit 2, like a usage error): waiting will not free the port
        err.print(
            Text.assemble(
                ("error: ", "bold red"),
                f"port {port} is in use (another sandbox?): pick another with --port",
            )
        )
        raise typer.Exit(2) from None


def _comma_separated(values: list[str]) -> list[str]:
    """`--datasets 1,2 --datasets 3` -> ["1", "2", "3"] (blanks dropped)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


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


@app.command()
@_guarded
def serve(
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    host: Annotated[
        str,
        typer.Option(help="interface to bind; other than 127.0.0.1 it needs serve.token"),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: a free one)", min=0, max=65535)] = 8000,
    sync: Annotated[
        list[str] | None, typer.Option("--sync", help="serve only this sync (repeatable)")
    ] = None,
) -> None:
    """Run syncs on their schedules and serve the HTTP API until stopped.

    Each sync with a `schedule:` runs on it (a tick while it still runs is skipped); any
    sync starts on POST /api/syncs/NAME/runs. SIGTERM or Ctrl-C stops the runs in flight
    cleanly, then exits 143 or 130. See docs/serve.md.
    Example: capisync serve --port 8000 --sync purchases
    """
    from capisync.serve.runner import serve_project

    # serve logs to `capisync.serve`, in the format --log-format chose (capisync.logs)
    project = _project(config)
    raise typer.Exit(serve_project(project, host=host, port=port, syncs=sync or None))


@app.command()
@_guarded
def quality(
    sync: Annotated[str | None, typer.Argument(help="only this sync (default: all)")] = None,
    config: ConfigOption = Path(DEFAULT_PROJECT_FILE),
    as_json: Annotated[
        bool, typer.Option("--json", help="print Meta's figures as JSON instead of a table")
    ] = False,
) -> None:
    """Fetch Meta's own match-quality figures for each sync's dataset (all events, and those
    capisync sent): EMQ with match-key feedback and diagnostics, event coverage, dedup keys,
    freshness, additional conversions reported; record them in the ledger and show them.

    Exit codes as `run` (5: Meta refused the token or access; 75: Meta unreachable or busy).
    Example: capisync quality purchases --json
    """
    from capisync import quality_report
    from capisync.quality import fetch_quality
    from capisync.sync import ensure_syncs

    project = _project(config)
    codes: dict[str, int] = {}
    fetched = []
    for name in ensure_syncs(project, [sync] if sync else []):
        try:
            snapshot = fetch_quality(project, name)
        except Exception as exc:
            codes[name] = _sync_failed(name, exc)
            continue
        codes[name] = 0
        fetched.append(snapshot)
        if not as_json:
            quality_report.print_quality(out, snapshot)
    if as_json:
        quality_report.print_quality_json(out, fetched)
    _exit_with_worst(codes)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
