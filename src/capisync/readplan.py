"""What a run asks the warehouse for: the time window pushed into the query, and the rows the
ledger settled left in the warehouse (an anti-join), so that only rows with work to do leave it.

A source that can narrow its query (see sources/antijoin.py for DuckDB) takes a ReadPlan and
answers with a Narrowed: the settled rows of the model it counted in the warehouse, by ledger
state, and the rows it did not read because they are older than any event of the sync can be.
The ledger stays the source of truth: every row that does leave the warehouse is still looked
up in it, so a plan that misses a settled row costs time, never a duplicate send.

Windows come from the core (capi/params.py), as Meta documents them
(https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event):
event_time may be up to 7 days old, or 62 days for action_source physical_store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from capisync.capi.mapping import ResolvedMapping
from capisync.capi.params import EVENT_MAX_AGE_SECONDS, PHYSICAL_STORE_MAX_AGE_SECONDS

# rows this much older than the longest window are still read (the builder expires them): a
# margin for clocks that disagree and for days of 23 or 25 hours in the sync's time zone
READ_MARGIN_SECONDS = 24 * 3600
# ledger rows settled this long ago can never be sent again: pruned after a run
PRUNE_AFTER_SECONDS = PHYSICAL_STORE_MAX_AGE_SECONDS + 7 * 24 * 3600

SettledChunks = Callable[[], Iterator[list[tuple[str, str]]]]
# the settled copy's file, brought up to date (state/settled_copy.py); None: it cannot be used
SettledCopy = Callable[[], Path | None]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    column: str  # the model column mapped to event_time
    since: float  # epoch seconds: rows with an earlier event_time are not read
    timezone: str  # the zone naive timestamps are read in (the sync's `timezone`)


@dataclass(frozen=True, slots=True)
class WritebackRef:
    table: str  # the write-back table, quoted, schema-qualified
    sync: str
    ledger_key: str  # the ledger whose rows it may trust (sources/writeback.py)


@dataclass(frozen=True, slots=True)
class ReadPlan:
    identifier: str  # the model's identifier column
    window: TimeWindow | None
    settled: SettledChunks | None  # (identifier, state) of settled ledger rows, in chunks
    writeback: WritebackRef | None = None  # a write-back table beside the model to anti-join
    settled_copy: SettledCopy | None = None  # tried before `settled` (DuckDB models)


@dataclass(slots=True)
class Narrowed:
    settled: dict[str, int] = field(default_factory=dict)  # rows counted in the warehouse
    too_old: int = 0  # rows not read: older than the window, and not settled
    anti_join: bool = False  # settled rows were left in the warehouse
    window: bool = False  # the time window was pushed into the query

    @property
    def counted(self) -> int:
        return sum(self.settled.values())


def longest_window(mapping: ResolvedMapping) -> int:
    """Seconds: the longest event_time age any event of this mapping can have (Meta's 7
    days, or 62 when action_source may be physical_store: a column, or that static value)."""
    source = mapping.get("action_source")
    if source is not None and source.column is None and source.static != "physical_store":
        return EVENT_MAX_AGE_SECONDS
    return max(EVENT_MAX_AGE_SECONDS, PHYSICAL_STORE_MAX_AGE_SECONDS)


def time_window(mapping: ResolvedMapping, now: float, timezone: str) -> TimeWindow | None:
    """The window to push into the query, when event_time is a model column."""
    event_time = mapping.get("event_time")
    if event_time is None or event_time.column is None:
        return None
    return TimeWindow(
        event_time.column, now - longest_window(mapping) - READ_MARGIN_SECONDS, timezone
    )


def event_time_mapped(mapping: ResolvedMapping) -> bool:
    """Whether event_time comes from a column (an old row then always expires: prunable)."""
    event_time = mapping.get("event_time")
    return event_time is not None and event_time.column is not None
