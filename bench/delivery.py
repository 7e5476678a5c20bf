"""Delivery throughput of MetaClient against the sandbox answering in a set time per request.

    .venv/bin/python bench/delivery.py                 # 200,000 events, 150 ms, c = 1, 4, 16
    .venv/bin/python bench/delivery.py --events 50000 --latency-ms 50

Events are prebuilt (`valid_event` with distinct event_ids) and serialized once, as the sync
engine hands them over. The sandbox answers each request 150 ms after it arrived (its own
parsing and validation, ~6-15 ms per 1,000 events on this machine, happen inside that time,
as Meta's work happens inside its response time). It runs as several processes sharing one
port (SO_REUSEPORT), in processes of their own, so that its Python validation does not share
the client's interpreter lock. The ceiling of a concurrency c is c full batches per latency:
c * 1000 / latency. Concurrency 1 sends fewer events (a tenth) so the run stays short; the
table says how many. "client CPU s" is the CPU time of this (client) process during the run:
what delivery itself costs, apart from the sandbox's work and the waiting; "sandbox CPU s" is
the same for the sandbox processes. When client + sandbox CPU seconds approach twice the
wall-clock seconds (2 cores), the machine's CPU, not the client, is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import orjson

from capisync.capi import versions
from capisync.meta import BatchResult, ClientSettings, MetaClient
from capisync.sandbox import SandboxConfig, SandboxServer
from capisync.sandbox.examples import valid_event

BATCH = 1000
DATASET = "1234567890"
TOKEN = "sandbox-token"


Event = dict[str, Any]  # wire shape, as MetaClient.send takes them


def build_events(count: int) -> list[Event]:
    return [valid_event(event_id=f"Purchase:bench-{n}") for n in range(count)]


def _serve(conn: Connection, latency_ms: float, port: int) -> None:
    config = SandboxConfig(latency_ms=latency_ms, keep_events=False)
    with SandboxServer(config, port=port, reuse_port=True) as sandbox:
        conn.send(sandbox.url)
        while conn.recv() == "cpu":  # anything else: stop
            conn.send(time.process_time())


class SandboxProcess:
    """Sandbox servers in child processes sharing one port: the URL and their CPU time."""

    def __init__(self, conns: list[Any]) -> None:
        self._conns = conns
        self.url: str = conns[0].recv()
        for conn in conns[1:]:
            conn.recv()

    def cpu_seconds(self) -> float:
        for conn in self._conns:
            conn.send("cpu")
        return sum(float(conn.recv()) for conn in self._conns)


@contextmanager
def sandbox_process(latency_ms: float, processes: int) -> Iterator[SandboxProcess]:
    """`processes` sandboxes on one port (SO_REUSEPORT), so that the sandbox's single event
    loop validating every event in Python is not what the benchmark measures."""
    ctx = mp.get_context("spawn")
    conns, children = [], []
    port = 0
    for _ in range(processes):
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, latency_ms, port), daemon=True)
        process.start()
        if port == 0:
            url = parent.recv()
            port = int(url.rsplit(":", 1)[1])
            parent = _Replay(parent, url)
        conns.append(parent)
        children.append(process)
    try:
        yield SandboxProcess(conns)
    finally:
        for conn in conns:
            conn.send("stop")
        for process in children:
            process.join(timeout=10)


class _Replay:
    """A pipe end whose first message was already read (to learn the shared port)."""

    def __init__(self, conn: Connection, first: str) -> None:
        self._conn, self._first = conn, [first]

    def recv(self) -> object:
        return self._first.pop() if self._first else self._conn.recv()

    def send(self, message: object) -> None:
        self._conn.send(message)


def client_for(url: str, concurrency: int) -> MetaClient:
    settings = ClientSettings(
        base_url=url,
        api_version=versions.newest(versions.day_of(time.time())).name,
        dataset_id=DATASET,
        access_token=TOKEN,
        concurrency=concurrency,
    )
    return MetaClient(settings)


async def deliver(url: str, events: Sequence[Event], concurrency: int) -> tuple[float, float, int]:
    """Send every event in batches of 1,000, all queued at once: (seconds, client CPU, requests)."""
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    async with client_for(url, concurrency) as client:
        await client.send(batches[0][:1])  # open a connection before the clock starts
        started, cpu_started = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(client.send(b) for b in batches))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    _check_all_accepted(results, len(events))
    return seconds, cpu, sum(r.requests for r in results)


def _check_all_accepted(results: Sequence[BatchResult], expected: int) -> None:
    accepted = sum(len(r.accepted) for r in results)
    if accepted != expected or any(r.fatal or r.rejected or r.pending for r in results):
        raise SystemExit(f"delivery failed: {accepted} of {expected} accepted")


async def one_batch(url: str, batch: list[Event], concurrency: int) -> tuple[int, float]:
    async with client_for(url, concurrency) as client:
        await client.send(batch[:1])  # warm connection (its event is valid either way)
        started = time.perf_counter()
        result = await client.send(batch)
        seconds = time.perf_counter() - started
    return result.requests, seconds


def throughput_table(sandbox: SandboxProcess, events: list[Event], latency_ms: float) -> None:
    print(
        f"\nDelivery: MetaClient -> sandbox (answers {latency_ms:.0f} ms after a request), "
        f"batches of {BATCH}"
    )
    print(
        f"{'concurrency':>11} {'events':>8} {'requests':>8} {'seconds':>8} {'events/s':>9} "
        f"{'ceiling':>9} {'% ceiling':>9} {'client CPU s':>12} {'sandbox CPU s':>13}"
    )
    for concurrency in (1, 4, 16):
        sample = events[: len(events) // 10] if concurrency == 1 else events
        sandbox_cpu = sandbox.cpu_seconds()
        seconds, cpu, requests = asyncio.run(deliver(sandbox.url, sample, concurrency))
        sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
        rate = len(sample) / seconds
        ceiling = concurrency * BATCH / (latency_ms / 1000)
        print(
            f"{concurrency:>11} {len(sample):>8,} {requests:>8} {seconds:>8.2f} {rate:>9,.0f} "
            f"{ceiling:>9,.0f} {100 * rate / ceiling:>8.1f}% {cpu:>12.2f} {sandbox_cpu:>13.2f}"
        )


def bisection_table(url: str, events: list[Event], repeats: int = 3) -> None:
    clean = events[:BATCH]
    one_bad = list(clean)
    bad = orjson.loads(orjson.dumps(one_bad[BATCH // 2]))  # a deep copy
    bad["user_data"]["em"] = "not.hashed@example.com"  # Meta: 100/2804016
    one_bad[BATCH // 2] = bad
    print(f"\nBisection: one bad event in a batch of {BATCH} (median of {repeats} runs)")
    print(f"{'concurrency':>11} {'batch':>10} {'requests':>8} {'seconds':>8} {'x clean':>8}")
    for concurrency in (1, 4):
        clean_runs = [asyncio.run(one_batch(url, clean, concurrency)) for _ in range(repeats)]
        bad_runs = [asyncio.run(one_batch(url, one_bad, concurrency)) for _ in range(repeats)]
        clean_s = statistics.median(s for _, s in clean_runs)
        bad_s = statistics.median(s for _, s in bad_runs)
        print(f"{concurrency:>11} {'clean':>10} {clean_runs[0][0]:>8} {clean_s:>8.2f} {1:>8.1f}")
        print(
            f"{concurrency:>11} {'1 bad':>10} {bad_runs[0][0]:>8} {bad_s:>8.2f} "
            f"{bad_s / clean_s:>8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument(
        "--sandbox-processes",
        type=int,
        default=4,
        help="sandbox servers sharing the port (the machine has 2 cores)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    events = build_events(args.events)
    size = sum(len(orjson.dumps(e)) for e in events) / len(events)
    print(
        f"built {len(events):,} events in {time.perf_counter() - started:.1f}s "
        f"({size:.0f} bytes each, serialized)"
    )
    print(f"sandbox: {args.sandbox_processes} process(es) sharing one port")
    with sandbox_process(args.latency_ms, args.sandbox_processes) as sandbox:
        throughput_table(sandbox, events, args.latency_ms)
        bisection_table(sandbox.url, events)


if __name__ == "__main__":
    main()
