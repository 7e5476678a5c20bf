"""Per-run statistics for the dashboard: match keys per event name, freshness, dedup readiness.

Computed while a run sends (sync._Runner feeds every event Meta accepted, or a dry run
would send), stored in the run's ``details["stats"]`` (sync._finish), read back by the
dashboard (serve/web). Memory is bounded per run, never per row: counters per event name
(at most :data:`MAX_EVENT_NAMES`, the rest pooled under :data:`OTHER_EVENTS`), a fixed
histogram, and the event_id hashes of the first :data:`DEDUP_CHECKED_MAX` events only.

Stored shape (``as_dict``; every number a count of events)::

    {"events": {"Purchase": {"sent": 279, "keys": {"em": 270, "ph": 250, "fn+ln": 260, ...}}},
     "freshness": {"<5m": 3, "<1h": 10, "<6h": 40, "<24h": 90, "<7d": 136, "older": 0},
     "dedup": {"events": 279, "with_event_id": 279, "checked": 279, "repeated": 0,
               "source": "template", "pattern": "{event_name}:{order_id}"}}

Match keys are Meta's ``user_data`` keys as capi/emq.py names them (``fn+ln`` for the name
pair, counted only when both are present), so the EMQ estimate reads these counts directly.
Freshness is the send time (the clock passed in) minus ``event_time``, in seconds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from capisync.capi import emq

if TYPE_CHECKING:
    from capisync.capi.mapping import ResolvedMapping
    from capisync.config import SyncConfig

FRESHNESS_BUCKETS: Final[tuple[tuple[str, float], ...]] = (
    ("<5m", 5 * 60),
    ("<1h", 60 * 60),
    ("<6h", 6 * 60 * 60),
    ("<24h", 24 * 60 * 60),
    ("<7d", 7 * 24 * 60 * 60),
)
"""(label, upper bound in seconds, exclusive) of the freshness histogram; later than the last
bound falls in :data:`FRESHNESS_OLDER`. Meta attributes events up to 7 days old."""
FRESHNESS_OLDER: Final = "older"
FRESHNESS_LABELS: Final[tuple[str, ...]] = (*(b[0] for b in FRESHNESS_BUCKETS), FRESHNESS_OLDER)
_BOUNDS: Final = tuple(b[1] for b in FRESHNESS_BUCKETS)

MAX_EVENT_NAMES: Final = 50
"""Event names counted one by one; the events of any further name are pooled."""
MAX_SIGNATURES: Final = 1000
"""(event name, user_data keys) combinations held before they are folded into counts."""
OTHER_EVENTS: Final = "(other event names)"
DEDUP_CHECKED_MAX: Final = 200_000
"""Events whose event_id is compared with the run's earlier ones (a set of ints, ~15 MB at
most); later events count in `with_event_id`, not in `checked`."""


@dataclass(frozen=True)
class EventIdSource:
    """Where a sync's event_ids come from: ``"template"`` (``pattern`` is the template as
    written in the project file), ``"column"`` (``pattern`` names the column) or
    ``"identifier"`` (the row identifier is the event_id; ``pattern`` names its column)."""

    kind: str
    pattern: str


def event_id_source(config: SyncConfig, mapping: ResolvedMapping) -> EventIdSource:
    """Where the sync's event_ids come from, as the event builder decides: the `event_id:`
    template first, then a mapped event_id column, else the identifier column."""
    if config.event_id is not None:
        return EventIdSource("template", config.event_id)
    column = mapping.get("event_id")
    if column is not None and column.column is not None:
        return EventIdSource("column", column.column)
    return EventIdSource("identifier", mapping.identifier)


@dataclass
class RunStats:
    """One run's statistics; feed it with :meth:`observe_batch`, store :meth:`as_dict`.

    Per event it only counts the event's (event name, user_data key names) signature, one
    bisect for freshness and one set lookup for its event_id (about 1 µs); signatures are
    few (a mapping gives a handful of key combinations) and are turned into match-key
    counts with capi/emq.py when stored, or once :data:`MAX_SIGNATURES` are held."""

    event_id_source: EventIdSource
    events: dict[str, Counter[str]] = field(default_factory=dict)
    total: int = 0
    with_event_id: int = 0
    checked: int = 0
    repeated: int = 0
    _signatures: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict, repr=False)
    _freshness: list[int] = field(default_factory=lambda: [0] * len(FRESHNESS_LABELS))
    _seen_ids: set[int] = field(default_factory=set, repr=False)

    def observe(self, event: dict[str, Any], *, own_event_id: bool, now: float) -> None:
        """observe_batch for one event."""
        self.observe_batch([event], [own_event_id], now=now)

    def observe_batch(
        self, events: Sequence[dict[str, Any]], own_event_ids: Sequence[bool], *, now: float
    ) -> None:
        """Count sent events (wire shape: ``event_name``, ``event_time`` epoch seconds,
        ``event_id``, ``user_data``). ``own_event_ids[i]``: event i's event_id came from the
        mapped column or template, not from the identifier fallback. ``now``: their send
        time, epoch seconds."""
        signatures, fresh, seen = self._signatures, self._freshness, self._seen_ids
        for event, own in zip(events, own_event_ids, strict=True):
            user = event.get("user_data")
            keys = tuple(user) if type(user) is dict else ()
            signature = (str(event.get("event_name") or ""), keys)
            signatures[signature] = signatures.get(signature, 0) + 1
            event_time = event.get("event_time")
            if type(event_time) is int or type(event_time) is float:
                fresh[bisect_right(_BOUNDS, now - event_time)] += 1
            event_id = event.get("event_id")
            if own and type(event_id) is str and event_id:
                self.with_event_id += 1
                if self.checked < DEDUP_CHECKED_MAX:
                    self.checked += 1
                    key = hash(event_id)  # stable in the process; a collision over-counts one
                    if key in seen:
                        self.repeated += 1
                    else:
                        seen.add(key)
        self.total += len(events)
        if len(signatures) > MAX_SIGNATURES:
            self._fold()

    def _fold(self) -> None:
        """Turn the signatures held into match-key counts per event name."""
        for (name, keys), n in self._signatures.items():
            counts = self.events.get(name)
            if counts is None:
                if len(self.events) >= MAX_EVENT_NAMES:
                    name = OTHER_EVENTS
                counts = self.events.setdefault(name, Counter())
            counts["sent"] += n
            for scored in emq.identifiers(keys):
                counts[scored] += n
        self._signatures.clear()

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape stored in the run's details (see the module docstring)."""
        self._fold()
        return {
            "events": {
                name: {"sent": c["sent"], "keys": {k: n for k, n in c.items() if k != "sent"}}
                for name, c in self.events.items()
            },
            "freshness": dict(zip(FRESHNESS_LABELS, self._freshness, strict=True)),
            "dedup": {
                "events": self.total,
                "with_event_id": self.with_event_id,
                "checked": self.checked,
                "repeated": self.repeated,
                "source": self.event_id_source.kind,
                "pattern": self.event_id_source.pattern,
            },
        }


def freshness_bucket(age_seconds: float) -> str:
    """The label of :data:`FRESHNESS_BUCKETS` an event ``age_seconds`` old falls in (an event
    time in the future, clock skew, counts as the freshest)."""
    return FRESHNESS_LABELS[bisect_right(_BOUNDS, age_seconds)]
