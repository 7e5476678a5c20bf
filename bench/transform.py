"""Rows to request bodies: Meta's official SDK against capisync, on the same messy rows.

    .venv/bin/python bench/transform.py                      # 200,000 rows, 1 round
    .venv/bin/python bench/transform.py --rows 20000 --rounds 3
    .venv/bin/python bench/transform.py --no-memory          # skip the memory probe

Rows come from ``data.messy_batches`` (deterministic, 1,000 at a time, generated lazily and
outside the timers). Each batch goes through every path, in an order that rotates from
batch to batch, so the machine's noise hits all of them alike:

- SDK: one ``Event`` per row (``UserData``, ``CustomData``), then ``EventRequest.execute()``
  for the batch. Everything it does runs: ``Event.normalize()`` per event, ``json.dumps``
  per event, the param type check, the deep copy of the params, the JSON encoding of the
  ``data`` list and requests' form encoding of the body. Only the network is missing: a
  requests adapter captures the prepared request and answers 200. The SDK raises on a value
  it refuses ("United States" as a country, a French national phone), which would sink the
  whole batch, so email, phone and country go through its ``Normalize.normalize_field``
  first and are left out when refused (the hash it returns passes through ``normalize()``
  as already hashed: no value is normalized twice).
- capisync (build_batch): ``EventBuilder.build_batch`` (map, normalize, hash and validate,
  column by column over the batch), then the request body of the batch's events, serialized
  by ``MetaClient``'s own ``request_body``: the sync engine's path.
- capisync, row by row: the same with ``EventBuilder.build`` per row (it gives the same
  outcomes, bodies included), to show what the batch path buys.

Memory: a fresh process streams the same rows through capisync alone and reports its peak
RSS (VmHWM), then the tracemalloc peak of a second pass.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import requests
from data import COLUMNS, NOW_EPOCH, messy_batches
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.normalize import Normalize
from facebook_business.adobjects.serverside.user_data import UserData
from facebook_business.api import FacebookAdsApi
from requests.adapters import BaseAdapter

from capisync.capi import is_compiled
from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.meta.client import request_body

BATCH = 1000
DATASET = "1234567890"
TOKEN = "bench-token"
_EPOCH = datetime(1970, 1, 1)

Row = Mapping[str, Any]
SDK_REFUSED: Counter[str] = Counter()  # values the SDK's normalizer refused, per key


# ---- the SDK path ------------------------------------------------------------------------


class _CaptureAdapter(BaseAdapter):
    """Stands in for the network: keeps the size of the body requests prepared, answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.body_bytes = 0
        self.requests = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body or b""
        self.body_bytes += len(body)
        self.requests += 1
        response = requests.Response()
        response.status_code = 200
        response.headers["content-type"] = "application/json"
        response._content = b'{"events_received":1,"messages":[],"fbtrace_id":"bench"}'
        response.request, response.url = request, request.url or ""
        return response

    def close(self) -> None:
        pass


def _sdk_checked(key: str, value: object) -> list[str] | None:
    """[the SDK's hash] when its normalizer accepts the value; None when it would raise."""
    if not value:
        return None
    try:
        return [Normalize.normalize_field(key, value)]
    except (TypeError, ValueError):
        SDK_REFUSED[key] += 1
        return None


def _sdk_currency(value: object) -> str | None:
    if not value:
        return None
    try:
        return Normalize.normalize_field_skip_hashing("currency", value)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        SDK_REFUSED["currency"] += 1
        return None


def _listed(value: object) -> list[object] | None:
    return [value] if value else None


def sdk_event(row: Row) -> Event:
    """What an SDK user writes per row: the same columns, the SDK's own normalization."""
    user = UserData(
        emails=_sdk_checked("em", row["email"]),
        phones=_sdk_checked("ph", row["phone"]),
        first_names=_listed(row["first_name"]),
        last_names=_listed(row["last_name"]),
        cities=_listed(row["city"]),
        states=_listed(row["state"]),
        zip_codes=_listed(row["zip"]),
        country_codes=_sdk_checked("country", row["country"]),
        client_ip_address=row["client_ip_address"],
        client_user_agent=row["user_agent"],
    )
    value = row["value"]
    custom = CustomData(
        value=None if value is None else float(value),
        currency=_sdk_currency(row["currency"]),
        order_id=row["order_id"],
    )
    return Event(
        event_name=row["event_name"],
        event_time=int((row["event_time"] - _EPOCH).total_seconds()),
        action_source=ActionSource(row["action_source"]),
        event_source_url=row["page_url"],
        event_id=f"{row['event_name']}:{row['order_id']}",
        user_data=user,
        custom_data=custom,
    )


@dataclass
class SdkPath:
    name: str = "Meta SDK (facebook-business)"
    adapter: _CaptureAdapter = field(default_factory=_CaptureAdapter)
    events: int = 0  # events in the request bodies
    refused: int = 0  # events EventRequest could not normalize (retried without them)

    def __post_init__(self) -> None:
        api = FacebookAdsApi.init(access_token=TOKEN)
        for scheme in ("https://", "http://"):  # nothing may reach the network
            api._session.requests.mount(scheme, self.adapter)

    def run(self, rows: Sequence[Row]) -> None:
        events = [sdk_event(row) for row in rows]
        sent = self.adapter.requests
        try:
            EventRequest(pixel_id=DATASET, events=events).execute()
        except (TypeError, ValueError):  # one refused value fails the batch: drop such events
            events = [e for e in events if _sdk_normalizes(e)]
            self.refused += len(rows) - len(events)
            EventRequest(pixel_id=DATASET, events=events).execute()
        if self.adapter.requests != sent + 1:
            raise RuntimeError("the SDK's request did not go through the capture adapter")
        self.events += len(events)

    def summary(self) -> str:
        refused = ", ".join(f"{key} {count:,}" for key, count in SDK_REFUSED.most_common())
        return (
            f"{self.events:,} events in its bodies, {self.refused:,} refused; "
            f"{self.adapter.body_bytes / max(self.events, 1):,.0f} body bytes an event "
            f"(it checks no time window nor customer keys); values its normalizer "
            f"refused, left out: {refused or 'none'}"
        )


def _sdk_normalizes(event: Event) -> bool:
    try:
        event.normalize()
    except (TypeError, ValueError):
        return False
    return True


# ---- the capisync path -------------------------------------------------------------------


def capisync_builder() -> EventBuilder:
    """The quickstart's sync (capisync.demo.PROJECT_YML) over the same columns."""
    mapping = resolve_mapping(
        COLUMNS,
        identifier="order_id",
        explicit={"client_user_agent": "user_agent", "event_source_url": "page_url"},
    )
    options = BuildOptions(default_country="us", event_id_template="{event_name}:{order_id}")
    return EventBuilder(mapping, options)


@dataclass
class CapisyncPath:
    name: str = "capisync (build_batch)"
    per_row: bool = False  # EventBuilder.build row by row instead of build_batch
    builder: EventBuilder = field(default_factory=capisync_builder)
    events: int = 0
    rejected: int = 0
    expired: int = 0
    body_bytes: int = 0
    # everything after "data" in MetaClient's body: the token and the partner agent
    tail: bytes = orjson.dumps({"access_token": TOKEN, "partner_agent": "capisync"})[1:]

    def run(self, rows: Sequence[Row]) -> None:
        if self.per_row:
            build = self.builder.build
            outcomes = [build(row, now=NOW_EPOCH) for row in rows]
        else:
            outcomes = self.builder.build_batch(rows, now=NOW_EPOCH)
        # serialized as MetaClient serializes a request: the batch's events in one call
        events = [o.event for o in outcomes if isinstance(o, BuiltEvent)]
        body = request_body(events, self.tail)
        self.body_bytes += len(body)
        self.events += len(events)
        expired = sum(1 for o in outcomes if isinstance(o, Rejection) and o.expired)
        self.expired += expired
        self.rejected += len(outcomes) - len(events) - expired

    def summary(self) -> str:
        return (
            f"{self.events:,} events in its bodies, {self.rejected:,} rejected with "
            f"reasons, {self.expired:,} expired (older than Meta's window); "
            f"{self.body_bytes / max(self.events, 1):,.0f} body bytes an event"
        )


# ---- measuring ---------------------------------------------------------------------------


def measure(paths: Sequence[SdkPath | CapisyncPath], rows: int, rounds: int) -> list[list[float]]:
    """Seconds per path per round; from batch to batch, the order of the paths rotates."""
    seconds = [[0.0] * rounds for _ in paths]
    count = len(paths)
    for round_index in range(rounds):
        for index, batch in enumerate(messy_batches(rows, BATCH)):
            first = (index + round_index) % count
            for p in [*range(first, count), *range(first)]:
                start = time.perf_counter()
                paths[p].run(batch)
                seconds[p][round_index] += time.perf_counter() - start
    return seconds


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, since Linux carries ru_maxrss over from the parent
    into a spawned child (across fork and exec); ru_maxrss where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stream_capisync(rows: int) -> None:
    path = CapisyncPath()
    for batch in messy_batches(rows, BATCH):
        path.run(batch)


def memory_probe(rows: int, results: Any) -> None:
    """In a fresh process: capisync alone over every row, peak RSS, then tracemalloc's peak."""
    _stream_capisync(rows)
    rss_mb = peak_rss_mb()
    tracemalloc.start()
    _stream_capisync(rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    results.put((rss_mb, peak / 2**20))


def probe_memory(rows: int) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=memory_probe, args=(rows, results))
    process.start()
    rss_mb, traced_mb = results.get()
    process.join()
    return rss_mb, traced_mb


# ---- report ------------------------------------------------------------------------------


def print_table(
    paths: Sequence[SdkPath | CapisyncPath], seconds: list[list[float]], rows: int, rounds: int
) -> None:
    """One line per path; the ratio is against the SDK (the first path), same rows, same run."""
    events = rows * rounds
    baseline = sum(seconds[0])
    print(
        f"{'path':<34} {'events':>9} {'seconds':>8} {'events/s':>9} {'µs/event':>9} {'vs SDK':>7}"
    )
    for path, per_round in zip(paths, seconds, strict=True):
        total = sum(per_round)
        print(
            f"{path.name:<34} {events:>9,} {total:>8.2f} {events / total:>9,.0f} "
            f"{total / events * 1e6:>9.1f} {baseline / total:>6.1f}x"
        )
    if rounds > 1:
        for path, per_round in zip(paths[1:], seconds[1:], strict=True):
            ratios = [sdk / ours for sdk, ours in zip(seconds[0], per_round, strict=True)]
            print(
                f"{path.name} vs SDK per round: "
                f"{', '.join(f'{r:.1f}x' for r in ratios)} (median "
                f"{statistics.median(ratios):.1f}x)"
            )
    print()
    for path in paths:
        print(f"{path.name}: {path.summary()}")


def core_kind() -> str:
    """Which capisync core runs: compiled by mypyc (pip install .) or interpreted."""
    compiled = is_compiled()
    return "compiled (mypyc)" if compiled else "interpreted (not compiled at install)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probe")
    args = parser.parse_args(argv)
    print(
        f"{args.rows:,} messy rows in batches of {BATCH:,}, {args.rounds} round(s); the "
        f"paths take turns on every batch. Python {sys.version.split()[0]}; capisync's "
        f"core {core_kind()}\n"
    )
    paths = [SdkPath(), CapisyncPath(), CapisyncPath("capisync, row by row (build)", per_row=True)]
    seconds = measure(paths, args.rows, args.rounds)
    print_table(paths, seconds, args.rows, args.rounds)
    print(f"\npeak RSS of this process (all paths, all imports): {peak_rss_mb():,.0f} MB")
    if not args.no_memory:
        rss_mb, traced_mb = probe_memory(args.rows)
        print(
            f"capisync alone, {args.rows:,} rows streamed {BATCH:,} at a time, fresh process: "
            f"peak RSS {rss_mb:,.0f} MB; tracemalloc peak {traced_mb:,.1f} MB"
        )


if __name__ == "__main__":
    main()
