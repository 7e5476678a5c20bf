"""The alert rules, pure: a run's report, the run history or Meta's quality figures in, the
alerts that fire (and the rules that were judged, so the open ones that no longer fire are
resolved) out. Posting and remembering what is open is `alerts.Alerter`'s job.

Every text is built from counts, shares, codes, key names, event names and capisync's own
error messages (which never hold a raw value or a secret, see errors.CapisyncError): never a
row's value, an identifier or a token. docs/alerts.md describes each rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from capisync.config import AlertsConfig
from capisync.errors import EXIT_CODES, SyncLockedError
from capisync.state.ledger import RunRecord
from capisync.sync import RunReport

FAILED_RUN = "failed_run"
REJECTED_SHARE = "rejected_share"
COVERAGE_DROP = "coverage_drop"
STALE_MODEL = "stale_model"
EMQ_DROP = "emq_drop"
KINDS = (FAILED_RUN, REJECTED_SHARE, COVERAGE_DROP, STALE_MODEL, EMQ_DROP)
TOP_REASONS = 5  # reasons listed in a rejected-share alert


@dataclass(frozen=True)
class Alert:
    """One alert: `kind` (KINDS), the sync, what it is about (`subject`: a match key or an
    event name, for rules judged per key), a sentence for people and machine fields."""

    kind: str
    sync: str
    text: str
    run_id: int | None = None
    subject: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    resolved: bool = False

    @property
    def key(self) -> str:
        """What is open while the condition holds: `kind` or `kind:subject`."""
        return f"{self.kind}:{self.subject}" if self.subject else self.kind

    def body(self) -> dict[str, Any]:
        """The webhook's JSON: Slack's `text` and `blocks`, and a `capisync` object."""
        text = f"{'resolved' if self.resolved else 'alert'}: {self.text}"
        return {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            "capisync": {
                "kind": self.kind,
                "status": "resolved" if self.resolved else "firing",
                "sync": self.sync,
                "run_id": self.run_id,
                "subject": self.subject,
                **self.fields,
            },
        }

    def resolution(self, text: str, run_id: int | None) -> Alert:
        return Alert(self.kind, self.sync, text, run_id, self.subject, {}, resolved=True)


@dataclass(frozen=True)
class Judged:
    """A rule's verdict for one sync: the alerts firing, and the key prefix it judged (open
    alerts under it that do not fire any more are resolved); `judged` None: not judged."""

    firing: list[Alert]
    judged: str | None

    def covers(self, key: str) -> bool:
        return self.judged is not None and (key == self.judged or key.startswith(f"{self.judged}:"))


NOT_JUDGED = Judged([], None)


def skips_alerts(report: RunReport) -> bool:
    """Dry runs, test runs, runs stopped on purpose and runs that found another run holding
    the lock say nothing about the sync's health: no alert fires or resolves."""
    return (
        report.status in ("dry-run", "interrupted", "running")
        or report.test_event_code is not None
        or isinstance(report.failure, SyncLockedError)
    )


def failed_run(report: RunReport) -> Judged:
    """Fires when the run failed or could not start (run_id None), with its error as the CLI
    prints it and what its exit code means."""
    if report.status != "failed":
        return Judged([], FAILED_RUN)
    code = report.failure.exit_code if report.failure is not None else 1
    meaning = next((row.meaning for row in EXIT_CODES if row.code == code), "")
    retry = next((row.retryable for row in EXIT_CODES if row.code == code), False)
    what = f"run {report.run_id} failed" if report.run_id is not None else "could not start"
    then = "it may succeed on its own next time" if retry else "a person must fix it"
    error = report.error or "no error message"
    text = f"sync `{report.sync}`: {what} (exit {code}: {meaning}; {then}).\n{error}"
    fields = {"exit_code": code, "retryable": retry, "error": error, "meaning": meaning}
    return Judged([Alert(FAILED_RUN, report.sync, text, report.run_id, None, fields)], FAILED_RUN)


def rejected_share(report: RunReport, threshold: float | None) -> Judged:
    """Fires when the run's newly rejected rows are more than `threshold` of the rows it
    judged for the first time: rejected / (sent + rejected), leaving out rows an earlier run
    had rejected already (report.rejected_again: a backlog re-evaluated on every run, which
    would otherwise make a run with no new rows reject "100 %"), with the top reasons by
    rows; not judged for a run that sent and newly rejected nothing."""
    sent = report.counts["sent"]
    rejected = max(0, report.counts["rejected"] - report.rejected_again)
    if threshold is None or sent + rejected == 0:
        return NOT_JUDGED
    share = rejected / (sent + rejected)
    if share <= threshold:
        return Judged([], REJECTED_SHARE)
    top = report.rejected_by_reason.most_common(TOP_REASONS)
    reasons = ", ".join(f"{code} x{n:,}" for code, n in top) or "none recorded"
    text = (
        f"sync `{report.sync}`: run {report.run_id} rejected {rejected:,} of the "
        f"{sent + rejected:,} new events ({share:.1%}, above {threshold:.1%}). Top reasons: "
        f"{reasons}. `capisync rejections {report.sync}` lists the rows."
    )
    fields = {
        "rejected": rejected,
        "rejected_again": report.rejected_again,
        "sent": sent,
        "share": round(share, 4),
        "threshold": threshold,
        "reasons": dict(top),
    }
    alert = Alert(REJECTED_SHARE, report.sync, text, report.run_id, None, fields)
    return Judged([alert], REJECTED_SHARE)


def coverage_shares(coverage: Mapping[str, Any]) -> dict[str, float] | None:
    """Each match key's share of the events a run built for sending (details `coverage`:
    counts by key, and `events`); None for a run that built none."""
    events = int(coverage.get("events") or 0)
    if events <= 0:
        return None
    return {k: int(n) / events for k, n in coverage.items() if k != "events"}


def coverage_drop(
    report: RunReport, previous: Sequence[RunRecord], threshold: float | None, runs: int
) -> Judged:
    """Fires per match key whose share of this run's events is more than `threshold` below
    its mean share over the `runs` previous completed runs that built events (`previous`:
    the history, newest first; this run is left out); not judged without such runs."""
    current = coverage_shares(report.coverage)
    if threshold is None or current is None:
        return NOT_JUDGED
    before = [
        shares
        for r in previous
        if r.id != report.run_id and r.status == "completed" and r.test_event_code is None
        if (shares := coverage_shares(r.details.get("coverage") or {})) is not None
    ][:runs]
    if not before:
        return NOT_JUDGED
    keys = sorted({k for shares in before for k in shares})
    firing = []
    for key in keys:
        mean = sum(shares.get(key, 0.0) for shares in before) / len(before)
        now = current.get(key, 0.0)
        if mean - now > threshold:
            text = (
                f"sync `{report.sync}`: match key `{key}` is on {now:.0%} of the events of run "
                f"{report.run_id}, down from {mean:.0%} (mean of the previous {len(before)} "
                f"runs); fewer keys lower Event Match Quality. Did the model lose or empty "
                "a column?"
            )
            fields = {"key": key, "share": round(now, 4), "previous_mean": round(mean, 4)}
            fields |= {"previous_runs": len(before), "threshold": threshold}
            firing.append(Alert(COVERAGE_DROP, report.sync, text, report.run_id, key, fields))
    return Judged(firing, COVERAGE_DROP)


def stale_model(
    sync: str, history: Iterable[RunRecord], now: float, stale_after: float | None
) -> Judged:
    """Fires when the sync's newest run that read new rows (`new` > 0, test runs aside)
    ended more than `stale_after` seconds before `now`; with runs but none that read new
    rows, its oldest run counts from its start. Not judged for a sync that never ran."""
    if stale_after is None:
        return NOT_JUDGED
    runs = [r for r in history if r.test_event_code is None]
    if not runs:
        return NOT_JUDGED
    fresh = next((r for r in runs if r.counts.get("new", 0) > 0), None)
    since = (fresh.ended_at or fresh.started_at) if fresh else min(r.started_at for r in runs)
    if now - since <= stale_after:
        return Judged([], STALE_MODEL)
    when = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"sync `{sync}`: no new rows since {when} ({(now - since) / 3600:.1f} h; the alert "
        f"is set at {stale_after / 3600:g} h). Is the model's upstream still refreshing?"
    )
    fields = {"since": since, "stale_seconds": round(now - since), "stale_after": stale_after}
    return Judged([Alert(STALE_MODEL, sync, text, None, None, fields)], STALE_MODEL)


def emq_drop(sync: str, drops: Sequence[tuple[str, float, float]], threshold: float) -> Judged:
    """Fires per event name whose Meta EMQ fell by `threshold` or more between the two newest
    quality fetches (`drops`: capisync.quality.emq_dropped's (event, previous, current))."""
    firing = []
    for event, previous, current in drops:
        text = (
            f"sync `{sync}`: Meta's Event Match Quality for `{event}` fell from {previous:.1f} "
            f"to {current:.1f} (alert at a drop of {threshold:g}); `capisync quality {sync}` "
            "shows the match keys Meta sees."
        )
        fields = {"event_name": event, "previous": previous, "current": current}
        fields["threshold"] = threshold
        firing.append(Alert(EMQ_DROP, sync, text, None, event, fields))
    return Judged(firing, EMQ_DROP)


def resolved_text(kind: str, sync: str, subject: str | None, run_id: int | None) -> str:
    """The sentence of a resolved alert."""
    after = f" (run {run_id})" if run_id is not None else ""
    what = {
        FAILED_RUN: "runs again without failing",
        REJECTED_SHARE: "rejects a share of events under the threshold again",
        COVERAGE_DROP: f"has match key `{subject}` on its usual share of events again",
        STALE_MODEL: "reads new rows again",
        EMQ_DROP: f"no longer shows an EMQ drop for `{subject}`",
    }.get(kind, "no longer meets the alert's condition")
    return f"sync `{sync}` {what}{after}."


def rules_after_run(
    report: RunReport, previous: Sequence[RunRecord], settings: AlertsConfig
) -> list[Judged]:
    """The rules judged after a run: failed run, rejected share, coverage drop."""
    if skips_alerts(report):
        return []
    judged = [failed_run(report)]
    if report.status != "failed":
        judged.append(rejected_share(report, settings.rejected_share))
        judged.append(
            coverage_drop(report, previous, settings.coverage_drop, settings.coverage_runs)
        )
    return judged
