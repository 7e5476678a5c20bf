"""Alerter: post alerts to a webhook (Slack-compatible JSON, any URL), once per condition.

    after_run(report)            failed run, rejected share, match-key coverage drop
    check_stale(now)             a sync whose model gave no new rows for `stale_after`
    after_quality(sync, history) Meta's EMQ dropped for an event (capisync.quality)
    alerts_after_run(project, report)   the same after a plain `capisync run`

The rules are `alert_rules`; here: which alerts are open (the ledger, see
state/alert_state.py), posting, and never letting a failure reach the run. An alert is posted
when its condition starts to hold, not again while it holds, and a "resolved" message follows
when a later judgement finds it cleared. A post is retried a few times (timeouts, 5xx, 429),
then logged and counted (capisync_alerts_total{outcome="failed"}); its claim is undone so the
next judgement posts it again. The webhook URL is a secret (Slack's carries a token): it is
never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from capisync.blocking import run_blocking
from capisync.config import AlertsConfig, Project
from capisync.errors import CapisyncError, LedgerError
from capisync.quality import QualitySnapshot, emq_dropped
from capisync.serve import alert_rules as rules
from capisync.serve.alert_rules import Alert, Judged
from capisync.serve.metrics import Metrics
from capisync.state.alert_state import claim_alert, open_alerts, release_alert
from capisync.state.ledger import Ledger, RunRecord
from capisync.sync import RunReport

log = logging.getLogger("capisync.alerts")

Sleep = Callable[[float], Awaitable[None]]
POST_ATTEMPTS = 3
POST_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt
HISTORY_PAGE = 50  # runs read at a time from the history


class Alerter:
    """Judge the rules for `project` and post what fires to `settings.webhook`.

    `clock` gives UNIX seconds (when alerts open); `transport` is an httpx transport (tests);
    `metrics` counts the posts; `sleep` waits between attempts."""

    def __init__(
        self,
        settings: AlertsConfig,
        project: Project,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings, self.project, self.clock = settings, project, clock
        self.transport, self.metrics, self.sleep = transport, metrics, sleep

    async def after_run(self, report: RunReport) -> list[Alert]:
        """Judge a run that ended (any status; run_id None: it could not start): the alerts
        posted or resolved, each with its body's fields. Never raises for a failed post."""
        previous: list[RunRecord] = []
        if self.settings.coverage_drop is not None and report.coverage["events"]:
            # room for failed, test and empty runs among them: only completed ones compare
            previous = await self._history(report.sync, 4 * self.settings.coverage_runs + 1)
        judged = rules.rules_after_run(report, previous, self.settings)
        return await self._settle(report.sync, judged, report.run_id)

    async def check_stale(self, now: float) -> list[Alert]:
        """Judge every sync's freshness at `now` (UNIX seconds)."""
        after = self.settings.stale_after
        if after is None:
            return []
        posted: list[Alert] = []
        for sync in self.project.syncs:
            history = await self._history_since(sync, now - after)
            posted += await self._settle(sync, [rules.stale_model(sync, history, now, after)])
        return posted

    async def after_quality(self, sync: str, history: Sequence[QualitySnapshot]) -> list[Alert]:
        """Judge `sync`'s quality fetches (newest first, as capisync.quality's
        quality_history_for returns them): capisync.quality.emq_dropped decides."""
        threshold = self.settings.emq_drop
        if threshold is None:
            return []
        drops = emq_dropped(list(history), threshold)
        return await self._settle(sync, [rules.emq_drop(sync, drops, threshold)])

    # -- what is open, what to post ----------------------------------------------------------

    async def _settle(
        self, sync: str, judged: list[Judged], run_id: int | None = None
    ) -> list[Alert]:
        """Post the alerts that start firing, and "resolved" for open ones judged cleared."""
        posted: list[Alert] = []
        if not self.settings.enabled:
            return posted
        firing = {a.key for j in judged for a in j.firing}
        for alert in (a for j in judged for a in j.firing):
            if await self._state(claim_alert, sync, alert.key, self.clock()) is False:
                continue  # open already: posted before
            if await self.post(alert):
                posted.append(alert)
            else:
                await self._state(release_alert, sync, alert.key)
        try:
            still_open = await asyncio.to_thread(self._with_ledger, open_alerts, sync)
        except CapisyncError as exc:
            log.error("alerts of sync %s: cannot read which are open: %s", sync, exc)
            return posted
        for key in sorted(still_open - firing):
            if not any(j.covers(key) for j in judged):
                continue
            kind, _, subject = key.partition(":")
            text = rules.resolved_text(kind, sync, subject or None, run_id)
            resolved = Alert(kind, sync, text, run_id, subject or None, resolved=True)
            if await self.post(resolved):
                await self._state(release_alert, sync, key)
                posted.append(resolved)
        return posted

    async def _state(self, change: Callable[..., bool], *args: Any) -> bool | None:
        """claim_alert / release_alert in a worker thread; None when the ledger failed (then
        an alert is posted anyway: a ledger that fails is no reason to stay silent)."""
        try:
            return await asyncio.to_thread(self._with_ledger, change, *args)
        except CapisyncError as exc:
            log.error("alerts: the ledger cannot record which are open: %s", exc)
            return None

    def _with_ledger(self, use: Callable[..., Any], *args: Any) -> Any:
        ledger = Ledger(self.project.state_location())
        try:
            return use(ledger, *args)
        finally:
            ledger.close()

    async def _history(self, sync: str, limit: int) -> list[RunRecord]:
        try:
            return await asyncio.to_thread(self._with_ledger, Ledger.runs, sync, limit)
        except LedgerError as exc:
            log.error("alerts of sync %s: cannot read the run history: %s", sync, exc)
            return []

    async def _history_since(self, sync: str, cutoff: float) -> list[RunRecord]:
        """The sync's runs, newest first, back to the newest that read new rows or to the
        first started before `cutoff` (what stale_model needs), read a page at a time."""
        limit = HISTORY_PAGE
        while True:
            runs = await self._history(sync, limit)
            if (
                len(runs) < limit
                or any(r.counts.get("new", 0) > 0 for r in runs)
                or runs[-1].started_at < cutoff
            ):
                return runs
            limit *= 2

    # -- the webhook ---------------------------------------------------------------------------

    async def post(self, alert: Alert) -> bool:
        """POST the alert's body; True when the webhook answered 2xx within the settings'
        `timeout` (seconds, for the whole answer). Retries timeouts,
        connection errors, 429 and 5xx (POST_ATTEMPTS in all, backing off), then logs the
        failure and counts it. Never raises (but for cancellation)."""
        url = self.settings.webhook.get_secret_value()
        problem = "not tried"
        async with httpx.AsyncClient(
            transport=self.transport, timeout=self.settings.timeout
        ) as client:
            for attempt in range(POST_ATTEMPTS):
                if attempt:
                    await self.sleep(POST_BACKOFF_SECONDS * 2 ** (attempt - 1))
                try:
                    # httpx's timeout bounds each read, not the answer: a webhook sending a
                    # byte now and then would hold the run; `timeout` is for the whole post
                    async with asyncio.timeout(self.settings.timeout):
                        answer = await client.post(url, json=alert.body())
                except TimeoutError:
                    problem = f"timeout, {self.settings.timeout:g} s"
                    continue
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__  # its text may quote the URL
                    continue
                if answer.is_success:
                    self._count(alert, ok=True)
                    return True
                problem = f"HTTP {answer.status_code}"
                if answer.status_code != 429 and answer.status_code < 500:
                    break  # the webhook refuses this body: trying again will not help
        log.error(
            "alert %s of sync %s could not be posted to the webhook (%s, %d attempt(s))",
            alert.kind,
            alert.sync,
            problem,
            attempt + 1,
        )
        self._count(alert, ok=False)
        return False

    def _count(self, alert: Alert, *, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.alert_posted(alert.kind, ok=ok)


def could_not_start(sync: str, exc: BaseException) -> RunReport:
    """The report of a run that failed before it had one (the sync's source, lock or
    configuration): its error as the CLI prints it, never a raw value."""
    if isinstance(exc, CapisyncError):
        return RunReport(sync, None, "failed", error=str(exc), failure=exc)
    error = f"unexpected {type(exc).__name__}: a bug in capisync, please report it"
    return RunReport(sync, None, "failed", error=error)


def alerts_after_run(project: Project, report: RunReport) -> list[Alert]:
    """After a plain `capisync run`: judge the run-based rules (failed run, rejected share,
    coverage drop) when the project file has `alerts:`; the alerts posted. Blocks until
    done (async code awaits Alerter.after_run instead). Never raises: alerting fails into
    the log, never into the run's exit code."""
    settings = project.config.alerts
    if settings is None or not settings.enabled:
        return []
    try:
        judging = Alerter(settings, project).after_run(report)
        return run_blocking(judging, thread_name="capisync-alerts")
    except Exception:  # a bug in alerting must not change what the run did
        log.exception("alerts after the run of sync %s failed", report.sync)
        return []


def describe_alerts(settings: AlertsConfig | None) -> str | None:
    """What `capisync check` says about `alerts:` (None without it): the rules on and their
    thresholds, never the webhook URL (a secret)."""
    if settings is None:
        return None
    if not settings.enabled:
        return "alerts: off (alerts.webhook is empty)"
    on = ["failed runs"]
    if settings.rejected_share is not None:
        on.append(f"rejected share above {settings.rejected_share:.0%}")
    if settings.coverage_drop is not None:
        on.append(
            f"match-key coverage down {settings.coverage_drop:.0%} against the previous "
            f"{settings.coverage_runs} runs"
        )
    if settings.stale_after is not None:
        on.append(f"no new rows for {settings.stale_after / 3600:g} h (under `capisync serve`)")
    if settings.emq_drop is not None:
        on.append(f"EMQ down {settings.emq_drop:g} (under `capisync serve`)")
    return f"alerts: posted to the webhook on {'; '.join(on)}"
