"""What a person sees in the terminal: run summaries, history, rejections, check results.

Only identifiers, counts, reason codes, hashes and Meta's messages are shown: never raw values.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from capisync import logs
from capisync.capi.params import HASHED_KEYS, USER_DATA_KEYS

if TYPE_CHECKING:
    from capisync.checks import CheckResult
    from capisync.rowstatus import RowStatus
    from capisync.state import Rejected, RejectionSummary, RunRecord
    from capisync.sync import RunReport

MAX_ROWS_LISTED = 20
# a log gets a progress line at most this often during a run (CAPISYNC_PROGRESS_SECONDS)
PROGRESS_EVERY_SECONDS = 10.0
_progress_log = logging.getLogger("capisync.progress")


class RunProgress:
    """How a run's progress shows while it works: rows read, sent, rejected, expired.

    On a terminal, a live line (rich). In a log (stderr not a terminal) or with
    `--log-format json`, a log line on `capisync.progress` at most every `every` seconds
    (on the first update, then as batches land), with the counts as machine fields."""

    def __init__(
        self,
        console: Console,
        name: str,
        *,
        every: float = PROGRESS_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.every, self.clock = every, clock
        self.last_line: float | None = None
        self.log_lines = logs.event_lines_wanted(console.is_terminal)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task(f"{name}: starting")

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, run: RunReport) -> None:
        c = run.counts
        text = (
            f"{self.name}: read {c['read']:,}  sent {c['sent']:,}  rejected {c['rejected']:,}  "
            f"expired {c['expired']:,}"
        )
        self.progress.update(self.task, description=text)
        now = self.clock()
        if self.log_lines and (self.last_line is None or now - self.last_line >= self.every):
            self.last_line = now
            where = f" (run {run.run_id})" if run.run_id is not None else ""
            counts = {k: int(c.get(k, 0)) for k in ("read", "sent", "rejected", "expired")}
            _progress_log.info(
                text + where,
                extra={
                    "capisync": {
                        "event": "progress",
                        "sync": run.sync,
                        "run_id": run.run_id,
                        "counts": counts,
                    }
                },
            )


# the summary's columns, in the order they add up to `read` (schema.END_STATES)
_RUN_COLUMNS = (
    ("read", "read"),
    ("already", "already sent"),
    ("baseline", "baseline"),
    ("sent", "sent"),
    ("rejected", "rejected"),
    ("duplicate", "duplicate"),
    ("expired", "expired"),
    ("pending", "pending"),
)


def print_run(console: Console, run: RunReport) -> None:
    c = run.counts
    label = "dry run (nothing sent)" if run.status == "dry-run" else run.status
    if run.test_event_code is not None:
        label = f"test run, {label}"
    where = f"run {run.run_id}, " if run.run_id is not None else ""
    console.print(f"\n[bold]{run.sync}[/bold]: {label} ({where}{run.seconds:.1f} s)")
    table = Table(show_header=True, header_style="bold")
    for key, header in _RUN_COLUMNS:
        if key == "sent" and run.status == "dry-run":
            header = "would send"
        elif key == "sent" and run.test_event_code is not None:
            header = "sent as test events"
        table.add_column(header, justify="right")
    table.add_row(*(f"{c[k]:,}" for k, _ in _RUN_COLUMNS))
    console.print(table)
    _print_run_notes(console, run)
    if run.rejections:
        print_rejected_now(console, run.rejections, run.reasons)
    if run.reasons.get("event_time_too_old"):
        console.print(
            f"expired: {c['expired']:,} {_rows(c['expired'])} older than Meta accepts (7 days; "
            "62 for physical_store) were not sent. Add `WHERE event_time >= now() - INTERVAL "
            "7 DAY` to the model to skip them in the warehouse."
        )
    print_coverage(console, run.coverage)
    if run.warnings:
        dropped = ", ".join(f"{code} x{n}" for code, n in run.warnings.most_common())
        console.print(f"values left out of events (the rest of each event was kept): {dropped}")
    if run.error:
        console.print(Text.assemble(("run stopped: ", "red"), run.error))


def _print_run_notes(console: Console, run: RunReport) -> None:
    """What the counts alone do not say: rows not read, rows not recorded, test runs."""
    c = run.counts
    for notice in run.notices:
        console.print(Text.assemble(("warning: ", "yellow"), notice))
    if run.test_code_in_project:
        console.print(Text(TEST_CODE_IN_PROJECT, style="yellow"))
    if run.test_event_code is not None:
        console.print(
            Text(
                f"test run (test_event_code {run.test_event_code}): the events show in Events "
                "Manager > Test Events; Meta does not drop test events, they also count for "
                "targeting and ads measurement. No row was marked sent: the next real run "
                "sends these rows (same event_id, which Meta deduplicates on)"
            )
        )
    if c["read"] == 0 and run.read_all:
        console.print(
            "[yellow]warning: the model returned no rows[/yellow]: check its WHERE clause "
            "(nothing was sent)"
        )
    elif not run.read_all and (c["read"] or run.status == "interrupted"):
        limited = run.limit is not None and run.status == "completed"
        why = f"it reached --limit {run.limit}" if limited else "it stopped"
        console.print(
            f"[yellow]this run read {c['read']:,} {_rows(c['read'])} of the model before "
            f"{why}[/yellow]: any rows after those were not read, are in no column above, "
            "and the next run reads them"
        )
    if c["unidentified"]:
        console.print(unidentified_note(c["unidentified"]))
    if c["unrecorded"]:
        console.print(
            f"[red]{c['unrecorded']:,} {_rows(c['unrecorded'])} this run sent or settled "
            "could not be recorded in the ledger[/red], so they are counted as pending: the "
            "next run takes them again (sent ones go again with the same event_id, which Meta "
            "deduplicates on)"
        )
    if c["baseline"]:
        console.print(
            f"baseline: {c['baseline']:,} rows were in the model when the sync started "
            "(first_run: skip_existing); they are never sent"
        )
    if c["duplicate"]:
        n = c["duplicate"]
        listed = run.duplicates[:MAX_ROWS_LISTED]
        more = f" and {n - len(listed):,} more" if n > len(listed) else ""
        console.print(
            Text(
                f"duplicate: {n:,} {_rows(n)} repeat an identifier read earlier in this run "
                f"({', '.join(listed)}{more}); only the first row with an identifier is "
                "considered: make the identifier column unique"
            )
        )


TEST_CODE_IN_PROJECT = (
    "destination.test_event_code is set in the project file: every run of this sync is a "
    "test run and sends the whole window again as test events, settling nothing; remove it "
    "for production runs"
)


def unidentified_note(n: int, *, listed: str = "they are listed above, by reason") -> str:
    """Rejected rows with no identifier the ledger can store (missing, or holding personal
    data): counted under rejected, never listed by `capisync rejections`."""
    them = "it has" if n == 1 else f"{n:,} of them have"
    return (
        f"rejected: {them} no identifier (missing, or holding personal data) and cannot be "
        f"listed by `capisync rejections`; {listed}"
    )


def print_coverage(console: Console, coverage: Counter[str]) -> None:
    """Share of built events carrying each customer key: what drives Event Match Quality."""
    events = coverage.get("events", 0)
    if not events:
        return
    shares = [(k, n / events) for k, n in coverage.most_common() if k != "events"]
    text = ", ".join(f"{k} {share:.0%}" for k, share in shares)
    console.print(Text(f"match keys on the {events:,} events built: {text}"))


def print_rejected_now(
    console: Console, rejected: list[Rejected], totals: Mapping[str, int] | None = None
) -> None:
    """The run's rejected rows by reason; `totals` (the run's reasons) counts the rows of each
    code when `rejected` holds only the first examples of each (RunReport.rejections)."""
    console.print("rejected rows, by reason:")
    items = [(r.identifier or "(no identifier)", reason) for r in rejected for reason in r.reasons]
    _print_reason_groups(console, items, limit=MAX_ROWS_LISTED, totals=totals)


def _print_reason_groups(
    console: Console,
    items: list[tuple[str, dict[str, Any]]],
    *,
    limit: int,
    totals: Mapping[str, int] | None = None,
) -> None:
    """One block per reason code: how many rows, which ones, and how to fix them."""
    by_code: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for ident, reason in items:
        by_code[reason["code"]].append((ident, reason))

    def rows_of(code: str) -> int:
        return max(len(by_code[code]), totals.get(code, 0) if totals else 0)

    for code, group in sorted(by_code.items(), key=lambda kv: (-rows_of(kv[0]), kv[0])):
        n = rows_of(code)
        idents = ", ".join(i for i, _ in group[:limit])
        more = f" and {n - min(limit, len(group)):,} more" if n > limit else ""
        noun = "row" if n == 1 else "rows"
        console.print(Text.assemble("  ", (code, "bold"), f"  {n:,} {noun}: {idents}{more}"))
        console.print(Padding(Text(_meta_detail(group[0][1]), style="dim"), (0, 0, 0, 4)))


def _meta_detail(reason: dict[str, Any]) -> str:
    message = str(reason["message"])
    if reason.get("meta_code") is not None:
        message += f" (Meta code {reason['meta_code']}, subcode {reason.get('meta_subcode')})"
    return message


def print_runs(console: Console, runs: list[RunRecord]) -> None:
    if not runs:
        console.print("no runs yet: `capisync run` starts one")
        return
    table = Table(
        show_header=True,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    table.add_column("run", justify="right", no_wrap=True)
    table.add_column("sync", no_wrap=True)
    table.add_column("started UTC", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for _, header in _HISTORY_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for r in runs:
        took = f"{r.ended_at - r.started_at:.1f}s" if r.ended_at else ""
        c = _history_counts(r)
        status = f"{r.status} (test)" if r.test_event_code is not None else r.status
        table.add_row(
            str(r.id),
            r.sync,
            _when(r.started_at),
            took,
            status,
            *(f"{c[k]:,}" for k, _ in _HISTORY_COLUMNS),
        )
    console.print(table)
    for r in runs:
        for note in _history_notes(r):
            console.print(Text(f"run {r.id}: {note}"))


# `runs` columns: every state a row can end in, so that they add up to `read`
_HISTORY_COLUMNS = (
    ("read", "read"),
    ("already", "already"),
    ("baseline", "baseline"),
    ("sent", "sent"),
    ("rejected", "rejected"),
    ("duplicate", "dup"),
    ("expired", "expired"),
    ("pending", "pending"),
)


def _in_flight(r: RunRecord) -> int:
    """Rows a running run has read and not yet settled (queued or in a request to Meta)."""
    if r.status != "running":
        return 0
    return max(0, r.counts["read"] - sum(r.counts[k] for k, _ in _HISTORY_COLUMNS[1:]))


def _history_counts(r: RunRecord) -> dict[str, int]:
    """The columns as `runs` shows them: a running run's rows in flight are under pending."""
    return {**r.counts, "pending": r.counts["pending"] + _in_flight(r)}


def _history_notes(r: RunRecord) -> list[str]:
    notes = []
    reset = r.details.get("reset")
    if r.status == "reset" and isinstance(reset, dict):
        forgotten = ", ".join(f"{state} {n:,}" for state, n in reset["forgotten"].items())
        notes.append(
            f"reset: forgot {reset['rows']:,} {_rows(reset['rows'])}"
            + (f" ({forgotten})" if forgotten else "")
            + ": the next run sends them again if the model returns them"
        )
    if r.test_event_code is not None:
        notes.append(
            f"test run (test_event_code {r.test_event_code}): sent as test events, no row settled"
        )
        if r.details.get("test_code_in_project"):
            notes.append(TEST_CODE_IN_PROJECT)
    if r.status == "running":
        flying = _in_flight(r)
        in_flight = f"; pending includes {flying:,} {_rows(flying)} in flight" if flying else ""
        notes.append(f"running (its counts are as of its last checkpoint{in_flight})")
    elif r.status != "completed" and r.details.get("read_all") is False and r.counts["read"]:
        notes.append(
            f"stopped after reading {r.counts['read']:,} rows of the model; the rest were not read"
        )
    elif r.details.get("read_all") and not r.counts["read"]:
        notes.append("the model returned no rows")
    unidentified = int(r.details.get("unidentified") or 0)
    if unidentified:
        notes.append(unidentified_note(unidentified, listed="its summary listed them"))
    unrecorded = int(r.details.get("unrecorded") or 0)
    if unrecorded:
        notes.append(
            f"{unrecorded:,} {_rows(unrecorded)} it sent or settled could not be recorded in "
            "the ledger, so they count as pending: the next run takes them again (sent ones "
            "with the same event_id)"
        )
    notes.extend(f"warning: {n}" for n in r.details.get("notices") or ())
    if note := _meta_retries_note(r.details):
        notes.append(note)
    if r.error:
        notes.append(r.error)
    return notes


def print_row_status(console: Console, status: RowStatus) -> None:
    """`capisync status`: the row's state, what the ledger recorded, and what to do."""
    console.print(
        Text.assemble((f"{status.sync} {status.identifier}", "bold"), f": {status.state}")
    )
    row = status.row
    if row is not None:
        if row.event_id:
            console.print(Text(f"  event_id {row.event_id}"))
        if row.fbtrace_id:
            console.print(Text(f"  Meta fbtrace_id {row.fbtrace_id}"))
        for reason in row.reasons:
            key = f" ({reason['key']})" if reason.get("key") else ""
            console.print(Text.assemble("  ", (str(reason["code"]), "bold"), key))
            console.print(Padding(Text(_meta_detail(reason), style="dim"), (0, 0, 0, 4)))
    console.print(Text(status.explanation))


def _meta_retries_note(details: dict[str, Any]) -> str | None:
    """Requests Meta made the run repeat, and its waits for Meta's rate limit, if any."""
    retries, waits = int(details.get("retries") or 0), int(details.get("throttle_waits") or 0)
    if not retries:
        return None
    seconds = float(details.get("throttle_wait_seconds") or 0.0)
    throttled = f", {waits:,} of them after Meta's rate limit ({seconds:.1f} s waited)"
    return f"Meta: {retries:,} request(s) retried{throttled if waits else ''}"


def print_rejections(
    console: Console, summary: RejectionSummary, *, unidentified: tuple[int, int] | None = None
) -> None:
    """The ledger's rejected rows: counted in full, a few identifiers listed per reason.
    `unidentified`: (run id, rows) the sync's last run rejected without an identifier the
    ledger can store: counted in that run's `rejected`, not here."""
    if unidentified is not None and unidentified[1]:
        run_id, n = unidentified
        console.print(
            f"run {run_id} also rejected {n:,} {_rows(n)} without an identifier (missing, or "
            "holding personal data): they are counted in its `rejected` but cannot be "
            "stored or listed here; its summary listed them by reason"
        )
    if not summary.total:
        console.print("no rejected rows")
        return
    console.print(
        f"{summary.total:,} {_rows(summary.total)} currently rejected, by reason (re-evaluated "
        "every run; fix them in the warehouse and the next run sends them):"
    )
    for group in summary.groups:
        shown = ", ".join(group.examples)
        more = (
            f" (showing {len(group.examples):,} of {group.rows:,}; --limit shows more)"
            if group.rows > len(group.examples)
            else ""
        )
        console.print(
            Text.assemble(
                "  ", (group.code, "bold"), f"  {group.rows:,} {_rows(group.rows)}: {shown}{more}"
            )
        )
        console.print(Padding(Text(_meta_detail(group.reason), style="dim"), (0, 0, 0, 4)))


def print_check(console: Console, result: CheckResult, *, payloads: int) -> None:
    console.print(
        f"\n[bold]{result.sync}[/bold]: model has {len(result.columns)} columns; "
        f"sampled {result.counts['read']:,} rows"
    )
    table = Table(title="resolved mapping", title_justify="left", header_style="bold")
    table.add_column("parameter")
    table.add_column("from")
    for key, source in result.mapping:
        table.add_row(key, source)
    console.print(table)
    c = result.counts
    console.print(
        f"sample: would send {c['sent']:,}, rejected {c['rejected']:,}, expired {c['expired']:,}"
    )
    if not c["read"]:
        console.print(
            "[yellow]the model returned no rows[/yellow]: check its WHERE clause (a run would "
            "send nothing)"
        )
    for code, n in result.reasons.most_common():
        console.print(f"  {code} x{n}: {result.reason_messages[code]}", markup=False)
    if result.warnings:
        console.print(
            "values dropped: " + ", ".join(f"{k} x{n}" for k, n in result.warnings.most_common())
        )
    for event in result.payloads[:payloads]:
        print_event(console, event)
    console.print(f"connection: {result.connection}", markup=False)
    if result.api_version is not None:
        style = {"ok": None, "warning": "yellow", "error": "red"}[result.api_version.level]
        console.print(result.api_version.message, markup=False, style=style)


# user_data keys Meta takes unhashed that still identify a person or a device: shown masked,
# because a terminal's output ends up in orchestrator logs (the user agent is shown as is)
_MASKED_KEYS = USER_DATA_KEYS - HASHED_KEYS - {"client_user_agent"}


def shown_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as capisync shows it (terminal or --json): unhashed identifiers masked."""
    user = event.get("user_data")
    if isinstance(user, dict):
        masked = {
            k: ("<sent as is, not shown>" if k in _MASKED_KEYS else v) for k, v in user.items()
        }
        event = {**event, "user_data": masked}
    return event


def masked_event_json(event: dict[str, Any]) -> str:
    """shown_event as indented JSON: what `check --payloads` prints and the dashboard's
    payload preview shows."""
    event = shown_event(event)
    try:
        return orjson.dumps(event, option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONEncodeError:  # one the client would set aside: shown all the same
        return json.dumps(event, indent=2, default=str)


def print_event(console: Console, event: dict[str, Any]) -> None:
    """One event as Meta receives it, as plain JSON lines (they copy out as they are), with
    unhashed identifiers such as the IP address or fbp masked."""
    console.print(masked_event_json(event), markup=False, highlight=False, soft_wrap=True)


def _rows(n: int) -> str:
    return "row" if n == 1 else "rows"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M:%S")
