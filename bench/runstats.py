"""What the dashboard's per-run statistics cost a run, per event, beside building the event.

    .venv/bin/python bench/runstats.py                 # 200,000 rows
    .venv/bin/python bench/runstats.py --rows 50000

Rows come from ``data.messy_batches`` (the transform benchmark's rows, 1,000 at a time). For
each batch, timed separately and in turns: ``EventBuilder.build_batch`` (the baseline: what a
run does per row anyway), the match-key Counter a run already kept before the statistics
(``report.coverage.update(match_keys)``), and ``RunStats.observe_batch`` over the same built
events (capisync/runstats.py). Prints µs per event for each and the statistics' share of
the build.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from data import NOW_EPOCH, messy_batches
from transform import capisync_builder

from capisync.capi.outcome import BuiltEvent
from capisync.runstats import EventIdSource, RunStats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    rows = parser.parse_args().rows
    builder = capisync_builder()
    stats = RunStats(EventIdSource("template", "{event_name}:{order_id}"))
    coverage: Counter[str] = Counter()
    spent = {"build": 0.0, "coverage": 0.0, "stats": 0.0}
    events = 0
    now = float(NOW_EPOCH) + 60  # the rows' own clock (data.NOW), sent a minute later
    for batch in messy_batches(rows):
        t0 = time.perf_counter()
        built = [o for o in builder.build_batch(batch, now=NOW_EPOCH) if isinstance(o, BuiltEvent)]
        t1 = time.perf_counter()
        for b in built:
            coverage.update(b.match_keys)
        t2 = time.perf_counter()
        stats.observe_batch([b.event for b in built], [True] * len(built), now=now)
        t3 = time.perf_counter()
        spent["build"] += t1 - t0
        spent["coverage"] += t2 - t1
        spent["stats"] += t3 - t2
        events += len(built)
    stored = stats.as_dict()
    assert stored["dedup"]["events"] == events
    print(f"{events:,} events built from {rows:,} rows\n")
    print(f"  {'step':<52} {'µs/event':>9} {'of build':>9}")
    labels = {
        "build": "EventBuilder.build_batch (baseline)",
        "coverage": "coverage Counter a run kept already",
        "stats": "RunStats.observe_batch (the dashboard's statistics)",
    }
    for key, label in labels.items():
        per_event = spent[key] / events * 1e6
        print(f"  {label:<52} {per_event:>9.2f} {spent[key] / spent['build']:>9.1%}")


if __name__ == "__main__":
    main()
