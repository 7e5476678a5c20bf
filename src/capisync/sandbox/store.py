"""What reached the sandbox: accepted events and a record of every events POST. Thread-safe.

Records hold codes, counts and the optional request fields, never a token. Events are stored
as received (customer keys arrive hashed, or the request was rejected).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

DEDUP_WINDOW_SECONDS = 48 * 3600


class ReceivedEvent:
    """One accepted event. It is kept as compact JSON bytes and decoded on each `.event` read:
    200,000 stored events as dicts would make every garbage collection crawl through them."""

    __slots__ = (
        "dataset_id",
        "_raw",
        "test_event_code",
        "request_id",
        "received_at",
        "partner_agent",
        "dedup_key",
    )

    def __init__(
        self,
        dataset_id: str,
        event: dict[str, Any] | bytes,
        test_event_code: str | None,
        request_id: str,
        received_at: float,
        partner_agent: str | None = None,
    ) -> None:
        self.dataset_id = dataset_id
        as_dict = orjson.loads(event) if isinstance(event, bytes) else event
        self._raw = event if isinstance(event, bytes) else orjson.dumps(event)
        self.dedup_key = _dedup_key(dataset_id, as_dict)
        self.test_event_code = test_event_code
        self.request_id = request_id
        self.received_at = received_at
        self.partner_agent = partner_agent

    @property
    def event(self) -> dict[str, Any]:
        """The event as received (a fresh dict on every read)."""
        return orjson.loads(self._raw)  # type: ignore[no-any-return]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "event": self.event,
            "test_event_code": self.test_event_code,
            "request_id": self.request_id,
            "received_at": self.received_at,
            "partner_agent": self.partner_agent,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReceivedEvent) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReceivedEvent(dataset_id={self.dataset_id!r}, request_id={self.request_id!r})"

    def row(self) -> _Row:
        return (
            self.dataset_id,
            self._raw,
            self.test_event_code,
            self.request_id,
            self.received_at,
            self.partner_agent,
            self.dedup_key,
        )

    @classmethod
    def from_row(cls, row: _Row) -> ReceivedEvent:
        received = cls.__new__(cls)
        (
            received.dataset_id,
            received._raw,
            received.test_event_code,
            received.request_id,
            received.received_at,
            received.partner_agent,
            received.dedup_key,
        ) = row
        return received


# A tuple of strings, bytes and floats: the garbage collector stops tracking such tuples, so a
# store of 200,000 events costs collections nothing.
_Row = tuple[str, bytes, str | None, str, float, str | None, tuple[str, str, str] | None]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    dataset_id: str
    status: int
    events: int  # events in the request (0 when `data` could not be read)
    received_at: float
    error_code: int | None = None
    error_subcode: int | None = None
    encoding: str = "json"
    fault: str | None = None  # "throttle", "error", "hang" or "expired" when a fault answered
    fields: dict[str, str] = field(default_factory=dict)  # test_event_code, partner_agent...

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EventStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._events: list[_Row] = []
        self._requests: list[RequestRecord] = []

    def add_events(self, received: Iterable[ReceivedEvent]) -> None:
        rows = [event.row() for event in received]
        with self._lock:
            self._events.extend(rows)

    def add_batch(
        self,
        dataset_id: str,
        events: list[dict[str, Any]],
        test_event_code: str | None,
        request_id: str,
        received_at: float,
        partner_agent: str | None = None,
    ) -> None:
        """One accepted request's events, as rows straight away: no ReceivedEvent per event."""
        dumps = orjson.dumps
        rows = [
            (
                dataset_id,
                dumps(event),
                test_event_code,
                request_id,
                received_at,
                partner_agent,
                _dedup_key(dataset_id, event),
            )
            for event in events
        ]
        with self._lock:
            self._events.extend(rows)

    def add_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def events(self, dataset_id: str | None = None) -> list[ReceivedEvent]:
        with self._lock:
            rows = [r for r in self._events if dataset_id is None or r[0] == dataset_id]
        return [ReceivedEvent.from_row(row) for row in rows]

    def event_count(self) -> int:
        with self._lock:
            return len(self._events)

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._requests.clear()

    def dedup_report(self, now: float | None = None) -> dict[str, Any]:
        """Events received more than once with the same event_name + event_id in the last 48 h.

        Meta deduplicates such pairs (pixel and server); a sender that resends them is either
        relying on that or has a ledger bug. `duplicates` counts the extra copies.
        """
        since = (self._clock() if now is None else now) - DEDUP_WINDOW_SECONDS
        counts: dict[tuple[str, str, str], int] = {}
        with self._lock:
            keys = [row[6] for row in self._events if row[4] >= since]
        for key in keys:
            if key is not None:
                counts[key] = counts.get(key, 0) + 1
        repeated = sorted((key, n) for key, n in counts.items() if n > 1)
        listed = [
            {"dataset_id": d, "event_name": name, "event_id": eid, "count": n}
            for (d, name, eid), n in repeated
        ]
        return {"duplicates": sum(n - 1 for _, n in repeated), "keys": listed}


def _dedup_key(dataset_id: str, event: dict[str, Any]) -> tuple[str, str, str] | None:
    """What Meta deduplicates on: event_name + event_id, within one dataset."""
    event_id = event.get("event_id")
    name = event.get("event_name")
    if event_id is None or event_id == "" or not isinstance(name, str):
        return None
    return dataset_id, name, str(event_id)
