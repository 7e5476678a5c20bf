"""`capisync status SYNC IDENTIFIER`: what became of one row, from the ledger.

Sent (when, by which run, with which event_id and Meta's fbtrace_id), rejected (the reasons
and how to fix them), expired, baseline, or not in the ledger (never seen, or pending in a
run that stopped or is running). An identifier is business data (an order id); one that
looks like an email address or a phone number is refused without being repeated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from capisync.capi.personal import looks_personal
from capisync.capi.rules import DAY_SECONDS, EVENT_MAX_AGE_SECONDS, PHYSICAL_STORE_MAX_AGE_SECONDS
from capisync.errors import ConfigError
from capisync.jsonout import iso_utc
from capisync.readplan import PRUNE_AFTER_SECONDS
from capisync.state import BASELINE, EXPIRED, REJECTED, SENT, Ledger, LedgerRow, RunRecord

UNKNOWN = "unknown"  # the ledger has no row for it
_WINDOW = (
    f"{EVENT_MAX_AGE_SECONDS // DAY_SECONDS} days; "
    f"{PHYSICAL_STORE_MAX_AGE_SECONDS // DAY_SECONDS} for physical_store"
)


@dataclass(frozen=True)
class RowStatus:
    sync: str
    identifier: str
    state: str  # sent | rejected | expired | baseline | unknown
    row: LedgerRow | None  # the ledger's row (None: unknown)
    run: RunRecord | None  # the run that wrote the row
    running_now: bool  # a run of the sync is marked running: it may hold the row
    pending_after: RunRecord | None  # the last run, when it stopped with rows pending
    explanation: str  # in words, with what to do

    @property
    def recorded_at(self) -> float | None:
        return None if self.row is None else self.row.updated_at


def refuse_unreadable(identifier: str) -> None:
    """Raise ConfigError (exit 2) when `identifier` came as bytes that are not UTF-8 (a
    terminal or a file in another encoding: Python keeps them as lone surrogates, which no
    ledger can store or look up), without repeating it."""
    try:
        identifier.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            [
                "the identifier given is not UTF-8 text (not repeated here): set the "
                "terminal's or the file's encoding to UTF-8 and give it again"
            ],
            "the command line",
        ) from None


def refuse_personal(identifier: str) -> None:
    """Raise ConfigError (exit 2) when `identifier` looks like an email address or a phone
    number (capi/personal.py), without repeating it: identifiers are business ids, and the
    ledger never holds personal data."""
    if looks_personal(identifier):
        raise ConfigError(
            [
                "the identifier given looks like an email address or a phone number (not "
                "repeated here): capisync identifiers are business ids such as order ids, "
                "never personal data, so the ledger holds no such row. Give the row's "
                "identifier column value"
            ],
            "the command line",
        )


def row_status(ledger: Ledger, sync: str, identifier: str) -> RowStatus:
    """What the ledger says of `identifier` in `sync`. Raises ConfigError for a personal
    identifier (refuse_personal), SQLAlchemyError when the ledger cannot be read."""
    refuse_personal(identifier)
    row = ledger.row(sync, identifier)
    run = ledger.run(row.run_id) if row is not None and row.run_id is not None else None
    running = ledger.has_running(sync)
    last = next(
        (r for r in ledger.runs(sync) if r.test_event_code is None and r.status != "reset"),
        None,
    )
    pending_after = (
        last
        if row is None and last is not None and last.status != "running" and last.counts["pending"]
        else None
    )
    state = row.state if row is not None else UNKNOWN
    status = RowStatus(sync, identifier, state, row, run, running, pending_after, "")
    return dataclasses.replace(status, explanation=_explain(status))


def without_ledger(sync: str, identifier: str) -> RowStatus:
    """The status of any row before the first run (the ledger does not exist yet)."""
    refuse_personal(identifier)
    return RowStatus(
        sync,
        identifier,
        UNKNOWN,
        None,
        None,
        False,
        None,
        "not in the ledger: no run has recorded anything yet (the ledger does not exist); the "
        "first run sends it if the model returns it",
    )


def _explain(s: RowStatus) -> str:
    row = s.row
    if row is None:
        return _explain_unknown(s)
    by = f"run {row.run_id}" if row.run_id is not None else "a run"
    when = iso_utc(row.updated_at)
    if row.state == SENT:
        trace = f", Meta's fbtrace_id {row.fbtrace_id}" if row.fbtrace_id else ""
        return (
            f"sent by {by} at {when} with event_id {row.event_id}{trace}. Later runs do not "
            f"send it again; `capisync reset {s.sync} --identifier {s.identifier}` makes the "
            "next run send it again (docs/resend.md says what Meta does with it)"
        )
    if row.state == REJECTED:
        who = "Meta" if row.by_meta else "capisync's checks, before sending"
        return (
            f"rejected by {who} ({by}, {when}); it was not sent. Fix the value in the "
            "warehouse: every run evaluates rejected rows again and sends them once valid"
        )
    if row.state == EXPIRED:
        return (
            f"expired: when {by} read it ({when}) its event_time was older than Meta accepts "
            f"({_WINDOW}); it was never sent and never will be"
        )
    if row.state == BASELINE:
        return (
            f"baseline: it was in the model when the sync started ({by}, first_run: "
            "skip_existing), so it is never sent; `capisync reset` makes the next run send it "
            "if its event_time is still within Meta's window"
        )
    return f"{row.state} ({by}, {when})"


def _explain_unknown(s: RowStatus) -> str:
    text = "not in the ledger: no run has sent, rejected or expired it"
    if s.running_now:
        return (
            f"{text}. A run of {s.sync} is in progress: it may be reading or sending it now "
            "(pending); ask again when it ends"
        )
    if s.pending_after is not None:
        r = s.pending_after
        return (
            f"{text}. The last run (run {r.id}, {r.status}) left {r.counts['pending']:,} rows "
            "pending: if the model returns this one it may be among them; the next run sends it"
        )
    days = PRUNE_AFTER_SECONDS // DAY_SECONDS
    return (
        f"{text}. If the model returns it, the next run sends it; otherwise check that the "
        "model's SQL returns this identifier (compared as text, exactly). Rows settled more "
        f"than {days} days ago are pruned from the ledger"
    )
