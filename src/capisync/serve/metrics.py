"""Prometheus metrics of the runs a `capisync serve` process made: what `/metrics` serves.

    Metrics(registry=None)        its own CollectorRegistry (two Services, or tests, never share)
      observe_run(report)         after every run, any status (counts, reasons, retries, time)
      set_next_run(sync, ts)      when the scheduler knows the sync's next tick
      alert_posted(kind, ok)      the Alerter's webhook posts, delivered or failed
      render() -> (body, type)    the text exposition format, for GET /metrics

Names and labels follow Prometheus' conventions (`_total` counters, `_seconds` units, one
`sync` label, `reason` holding capisync's or Meta's rejection code, never a value). Values are
this process's since it started; `last_success_timestamp_seconds` is the newest run of this
process that completed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from capisync.sync import RunReport

# a run takes seconds to hours: buckets from 1 s to 4 h
RUN_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)


class Metrics:
    """The `capisync_*` metrics (docs/metrics.md) in one registry."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock  # UNIX seconds: when a run observed ended
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.runs = PromCounter(
            "capisync_runs", "Runs ended, by sync and status", ["sync", "status"], registry=r
        )
        self.sent = PromCounter(
            "capisync_events_sent", "Events Meta acknowledged", ["sync"], registry=r
        )
        self.rejected = PromCounter(
            "capisync_events_rejected",
            "Rows rejected (by capisync's checks or by Meta), by their first reason code",
            ["sync", "reason"],
            registry=r,
        )
        self.rows_read = PromCounter(
            "capisync_rows_read", "Rows read from the model", ["sync"], registry=r
        )
        self.retries = PromCounter(
            "capisync_meta_retries",
            "Requests to Meta repeated after a transient or throttled answer",
            ["sync"],
            registry=r,
        )
        self.throttle_waits = PromCounter(
            "capisync_throttle_waits",
            "Waits for Meta's rate limit (throttled answers)",
            ["sync"],
            registry=r,
        )
        self.throttle_seconds = PromCounter(
            "capisync_throttle_wait_seconds",
            "Seconds spent waiting for Meta's rate limit",
            ["sync"],
            registry=r,
        )
        self.duration = Histogram(
            "capisync_run_duration_seconds",
            "Run duration, from taking the lock to recording the end",
            ["sync"],
            buckets=RUN_DURATION_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "capisync_last_success_timestamp_seconds",
            "When the newest completed run of the sync ended (UNIX seconds)",
            ["sync"],
            registry=r,
        )
        self.next_run = Gauge(
            "capisync_next_run_timestamp_seconds",
            "When the sync's next scheduled run is due (UNIX seconds)",
            ["sync"],
            registry=r,
        )
        self.alerts = PromCounter(
            "capisync_alerts",
            "Alert webhook posts, by kind and outcome (sent, failed)",
            ["kind", "outcome"],
            registry=r,
        )

    def observe_run(self, report: RunReport) -> None:
        """Count one ended run, called as it ends (any status: a run that could not start has
        run_id None and counts under its status); a completed one sets the sync's last
        success time to now (the clock). Dry runs are not counted."""
        if report.status == "dry-run":
            return
        sync, counts = report.sync, report.counts
        self.runs.labels(sync, report.status).inc()
        self.sent.labels(sync).inc(counts["sent"])
        self.rows_read.labels(sync).inc(counts["read"])
        for reason, n in report.rejected_by_reason.items():
            self.rejected.labels(sync, reason).inc(n)
        self.retries.labels(sync).inc(report.retries)
        self.throttle_waits.labels(sync).inc(report.throttle_waits)
        self.throttle_seconds.labels(sync).inc(report.throttle_wait_seconds)
        if report.run_id is not None:
            self.duration.labels(sync).observe(report.seconds)
        if report.status == "completed":
            self.last_success.labels(sync).set(self.clock())

    def set_next_run(self, sync: str, ts: float | None) -> None:
        """The sync's next tick (UNIX seconds); None removes it (not scheduled)."""
        if ts is None:
            with contextlib.suppress(KeyError):  # it was not scheduled
                self.next_run.remove(sync)
            return
        self.next_run.labels(sync).set(ts)

    def alert_posted(self, kind: str, *, ok: bool) -> None:
        self.alerts.labels(kind, "sent" if ok else "failed").inc()

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
