"""What the dashboard's panels show, computed from the run history: pure, no I/O.

Each function takes the runs the ledger returns (newest first, as ``Ledger.runs`` gives them)
and returns plain values the templates print. Only counts, shares, codes and identifiers
reach them: the run history holds no customer value (sync._finish, runstats.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from capisync.capi import emq
from capisync.runstats import FRESHNESS_LABELS
from capisync.state import RunRecord

HISTORY_COLUMNS = ("read", "new", "sent", "rejected", "expired", "pending", "retried")
"""The run history table's count columns (the ledger's COUNT_FIELDS, in the issue's order)."""
TREND_RUNS = 5
"""A key's trend compares the latest run with the mean of up to this many runs before it."""
TREND_FLAT = 0.02
"""A change of coverage smaller than this share (2 points) is shown as steady."""


def when(ts: float | None) -> str:
    """Epoch seconds as ``2026-11-30 17:56 UTC``; an em dash for None."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """``42s``, ``3m 05s``, ``1h 02m``; an em dash for None."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


@dataclass(frozen=True)
class RunRow:
    id: int
    started: str
    status: str
    counts: tuple[int, ...]  # HISTORY_COLUMNS, in order
    duration: str
    test: bool
    error: str | None


def run_rows(runs: Sequence[RunRecord]) -> list[RunRow]:
    """The run history table, newest first."""
    return [
        RunRow(
            r.id,
            when(r.started_at),
            r.status,
            tuple(int(r.counts.get(c, 0)) for c in HISTORY_COLUMNS),
            duration(None if r.ended_at is None else r.ended_at - r.started_at),
            r.test_event_code is not None,
            r.error,
        )
        for r in runs
    ]


def run_chart(runs: Sequence[RunRecord]) -> dict[str, list[float]]:
    """uPlot's columns for the history chart, oldest first: ``t`` (epoch s) and a series per
    count of HISTORY_COLUMNS that matters over time (read, sent, rejected, pending)."""
    ordered = [r for r in reversed(runs) if r.test_event_code is None]
    series: dict[str, list[float]] = {"t": [r.started_at for r in ordered]}
    for name in ("read", "sent", "rejected", "pending"):
        series[name] = [float(r.counts.get(name, 0)) for r in ordered]
    return series


def _stats_runs(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The `stats` of the real runs that sent something, newest first."""
    out = []
    for r in runs:
        stats = r.details.get("stats")
        if r.test_event_code is None and isinstance(stats, dict) and stats.get("events"):
            out.append(stats)
    return out


def runs_with_stats(runs: Sequence[RunRecord]) -> int:
    """How many of `runs` sent events and so have statistics."""
    return len(_stats_runs(runs))


@dataclass(frozen=True)
class KeyShare:
    key: str
    share: float  # 0..1 of the event name's sent events carrying the key
    change: float | None  # share minus the mean share of up to TREND_RUNS runs before

    @property
    def trend(self) -> str:
        """ "up", "down", "steady", or "new" (no earlier run to compare with)."""
        if self.change is None:
            return "new"
        if abs(self.change) < TREND_FLAT:
            return "steady"
        return "up" if self.change > 0 else "down"


@dataclass(frozen=True)
class EventCoverage:
    event_name: str
    sent: int
    keys: tuple[KeyShare, ...]  # emq.MATCH_KEY_NAMES, in order
    estimate: float  # emq.estimate_from_coverage of these shares, 0-10
    meta_score: float | None  # Meta's composite_score for the event name, when fetched
    history: tuple[float, ...]  # the estimate of each run with this event name, oldest first

    @property
    def difference(self) -> float | None:
        """capisync's estimate minus Meta's score (positive: the estimate is higher)."""
        if self.meta_score is None:
            return None
        return round(self.estimate - self.meta_score, 1)


def _shares(event: Mapping[str, Any]) -> dict[str, float]:
    sent = int(event.get("sent", 0))
    keys = event.get("keys", {})
    if not sent:
        return dict.fromkeys(emq.MATCH_KEY_NAMES, 0.0)
    return {k: min(1.0, int(keys.get(k, 0)) / sent) for k in emq.MATCH_KEY_NAMES}


def coverage(
    runs: Sequence[RunRecord], meta_scores: Mapping[str, float] | None = None
) -> list[EventCoverage]:
    """Match-key coverage per event name in the latest run that sent events, each key's
    trend against the runs before it, the EMQ estimate (capi/emq.py) and, from
    ``meta_scores`` (event name -> Meta's composite_score), Meta's figure beside it."""
    stats = _stats_runs(runs)
    if not stats:
        return []
    out = []
    for name, event in sorted(stats[0]["events"].items(), key=lambda kv: -kv[1]["sent"]):
        now = _shares(event)
        before = [
            _shares(s["events"][name]) for s in stats[1 : 1 + TREND_RUNS] if name in s["events"]
        ]
        keys = tuple(
            KeyShare(
                k,
                now[k],
                None if not before else now[k] - sum(b[k] for b in before) / len(before),
            )
            for k in emq.MATCH_KEY_NAMES
        )
        history = tuple(
            emq.estimate_from_coverage(_shares(s["events"][name]))
            for s in reversed(stats)
            if name in s["events"]
        )
        out.append(
            EventCoverage(
                name,
                int(event["sent"]),
                keys,
                emq.estimate_from_coverage(now),
                (meta_scores or {}).get(name),
                history,
            )
        )
    return out


@dataclass(frozen=True)
class Bucket:
    label: str
    count: int
    share: float  # of the events in the histogram, 0..1


def freshness(runs: Sequence[RunRecord], *, last: int = 1) -> list[Bucket]:
    """The freshness histogram (send time minus event time) summed over the ``last`` runs that
    sent events; [] when none did."""
    stats = _stats_runs(runs)[:last]
    totals = {
        label: sum(int(s.get("freshness", {}).get(label, 0)) for s in stats)
        for label in FRESHNESS_LABELS
    }
    n = sum(totals.values())
    if not n:
        return []
    return [Bucket(label, totals[label], totals[label] / n) for label in FRESHNESS_LABELS]


@dataclass(frozen=True)
class Dedup:
    events: int
    with_event_id: int
    checked: int
    repeated: int
    source: str  # "template" | "column" | "identifier"
    pattern: str

    @property
    def share(self) -> float:
        return self.with_event_id / self.events if self.events else 0.0


def dedup(runs: Sequence[RunRecord]) -> Dedup | None:
    """Dedup readiness of the latest run that sent events, or None."""
    stats = _stats_runs(runs)
    if not stats:
        return None
    d = stats[0].get("dedup", {})
    return Dedup(
        int(d.get("events", 0)),
        int(d.get("with_event_id", 0)),
        int(d.get("checked", 0)),
        int(d.get("repeated", 0)),
        str(d.get("source", "identifier")),
        str(d.get("pattern", "")),
    )
