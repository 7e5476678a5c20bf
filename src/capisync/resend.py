"""`capisync reset`: forget what a sync sent, so that the next run sends those rows again.

The rows are deleted from the ledger (and from the write-back table beside the model, when
the sync has one, first: a row the write-back lacks is read and looked up in the ledger,
never skipped). The reset holds the sync's lock, so it never runs under a run, and it is
recorded in the run history (status "reset", with how many rows of each state it forgot).
What Meta does with an event it receives twice: docs/resend.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from capisync.config import Project
from capisync.errors import ConfigError
from capisync.jsonout import iso_utc
from capisync.locking import acquire_lock, new_owner
from capisync.sources.writeback import Writeback
from capisync.state import Ledger, RowChoice
from capisync.sync import lock_name

MAX_IDENTIFIERS_RECORDED = 20  # identifiers a reset's history entry lists (all are counted)


@dataclass(frozen=True)
class ResetDone:
    sync: str
    reset_id: int  # its entry in the run history
    forgotten: dict[str, int]  # rows deleted from the ledger, by state
    writeback_rows: int | None  # rows deleted from the write-back table (None: no table)

    @property
    def rows(self) -> int:
        return sum(self.forgotten.values())


def parse_since(text: str, *, flag: str = "--since") -> float:
    """ "2026-11-01" (midnight UTC) or an ISO-8601 time ("2026-11-01T12:00:00+01:00"; one
    without a zone is UTC) -> epoch seconds. Raises ConfigError naming the flag."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            [
                f"{flag} {text!r}: expected a date (2026-11-01) or an ISO-8601 time "
                "(2026-11-01T12:00:00Z)"
            ],
            "the command line",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def choice_of(identifiers: list[str], since: str | None, everything: bool) -> RowChoice:
    """The rows the command line picks: exactly one of --identifier (repeatable), --since,
    --all. Raises ConfigError (exit 2) otherwise."""
    given = sum((bool(identifiers), since is not None, everything))
    if given != 1:
        raise ConfigError(
            [
                "capisync reset: give exactly one of --identifier ID (repeatable), --since "
                "DATE or --all"
            ],
            "the command line",
        )
    return RowChoice(
        identifiers=tuple(dict.fromkeys(identifiers)),
        since=None if since is None else parse_since(since),
        everything=everything,
    )


def describe(choice: RowChoice) -> str:
    """The rows a choice picks, in words (identifiers are business ids, shown as given)."""
    if choice.everything:
        return "every row"
    if choice.since is not None:
        return f"the rows recorded since {iso_utc(choice.since)}"
    shown = ", ".join(choice.identifiers[:MAX_IDENTIFIERS_RECORDED])
    more = len(choice.identifiers) - MAX_IDENTIFIERS_RECORDED
    rows = "the row" if len(choice.identifiers) == 1 else "the rows"
    return f"{rows} {shown}" + (f" and {more:,} more" if more > 0 else "")


def reset(
    project: Project,
    sync: str,
    choice: RowChoice,
    *,
    confirm: Callable[[dict[str, int]], bool],
    clock: Callable[[], float] = time.time,
) -> ResetDone | None:
    """Take the sync's lock (SyncLockedError, exit 4, while a run holds it), count the rows
    `choice` picks, ask `confirm(counts by state)`, then forget them. None when not
    confirmed (nothing changed). Raises LedgerError, SourceError (the write-back table)."""
    import asyncio

    project.sync(sync)  # an unknown sync is a usage error (exit 2) before anything is opened
    ledger = Ledger(project.state_location())
    name, owner = lock_name(sync, test=False), new_owner()
    try:
        asyncio.run(acquire_lock(ledger, name, owner, wait_seconds=0.0, clock=clock))
        try:
            if not confirm(ledger.count_states(sync, choice)):
                return None
            return _forget(project, ledger, sync, choice, clock())
        finally:
            ledger.unlock(name, owner)
    finally:
        ledger.close()


def _forget(
    project: Project, ledger: Ledger, sync: str, choice: RowChoice, now: float
) -> ResetDone:
    writeback_rows = None
    config = project.sync(sync)
    key = ledger.identity(sync)
    if config.writeback is not None and config.source.url is not None and key is not None:
        table = Writeback(
            config.source.url.get_secret_value(), config.writeback.target_schema, sync, key
        )
        try:
            ids = None if choice.everything else ledger.chosen_identifiers(sync, choice)
            writeback_rows = table.forget(ids)
        finally:
            table.close()
    details: dict[str, Any] = {
        "all": choice.everything,
        "since": iso_utc(choice.since),
        "identifiers": list(choice.identifiers[:MAX_IDENTIFIERS_RECORDED]),
        "identifiers_given": len(choice.identifiers),
        "writeback_rows": writeback_rows,
    }
    forgotten, reset_id = ledger.forget(sync, choice, now=now, details=details)
    return ResetDone(sync, reset_id, forgotten, writeback_rows)
