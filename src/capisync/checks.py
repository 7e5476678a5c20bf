"""`capisync check`: config, source, mapping, a sample of built events, and the connection.

The local equivalent of Meta's Payload Helper: it shows exactly what would be sent for a
sample of the model's rows, and why the others would not be, without sending anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from capisync.capi import versions
from capisync.capi.event import EventBuilder
from capisync.capi.outcome import Rejection
from capisync.capi.versions import VersionNotice
from capisync.config import Project
from capisync.errors import MetaError, MetaFatalError, MetaTransientError
from capisync.meta import MetaClient, RetryPolicy, unencodable_among
from capisync.reachability import wait_until_listening
from capisync.sync import DUPLICATE_MESSAGE, UNENCODABLE_MESSAGE, SyncContext
from capisync.wiring import client_settings, event_builder, open_source_for, resolve_for


@dataclass
class CheckResult:
    sync: str
    columns: list[str]
    mapping: list[tuple[str, str]]  # (parameter, "column x" or "static value")
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    reason_messages: dict[str, str] = field(default_factory=dict)
    warnings: Counter[str] = field(default_factory=Counter)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    connection: str = "not tested (--offline)"
    api_version: VersionNotice | None = None  # the configured (or default) version, judged today
    failure: MetaError | None = None  # why the connection test (or the API version) failed

    @property
    def ok(self) -> bool:
        return self.failure is None


def check_sync(
    project: Project, name: str, *, sample: int, connect: bool, now: float | None = None
) -> CheckResult:
    clock = time.time if now is None else (lambda: now)
    ctx = SyncContext(name, project.sync(name), project, clock=clock)
    source = open_source_for(ctx)
    try:
        columns = source.columns()
        mapping = resolve_for(ctx, columns)
        rows = [row for batch in source.batches(min(sample, 1000), limit=sample) for row in batch]
    finally:
        source.close()
    shown = [
        (f.key, f"column {f.column}" if f.column is not None else f"static {f.static!r}")
        for f in mapping.fields
    ]
    result = CheckResult(name, columns, shown)
    _try_sample(
        result,
        event_builder(ctx, mapping),
        rows,
        int(now if now is not None else time.time()),
    )
    if connect:
        result.connection, result.failure = asyncio.run(_test_connection(ctx))
    _judge_api_version(result, ctx)
    return result


def _try_sample(
    result: CheckResult, builder: EventBuilder, rows: list[dict[str, Any]], now: int
) -> None:
    seen: set[str] = set()
    for row in rows:
        outcome = builder.build(row, now=now)
        result.counts["read"] += 1
        if outcome.identifier and outcome.identifier in seen:
            result.counts["rejected"] += 1
            result.reasons["duplicate_identifier"] += 1
            result.reason_messages["duplicate_identifier"] = DUPLICATE_MESSAGE
            continue
        seen.add(outcome.identifier)
        result.warnings.update(w.code for w in outcome.warnings)
        if isinstance(outcome, Rejection):
            result.counts["expired" if outcome.expired else "rejected"] += 1
            for reason in outcome.reasons:
                result.reasons[reason.code] += 1
                result.reason_messages.setdefault(reason.code, reason.message)
        elif unencodable_among([outcome.event], [0]):  # what the client would set aside
            result.counts["rejected"] += 1
            result.reasons["internal_error"] += 1
            result.reason_messages.setdefault("internal_error", UNENCODABLE_MESSAGE)
        else:
            result.counts["sent"] += 1
            if len(result.payloads) < 5:
                result.payloads.append(outcome.event)


def _judge_api_version(result: CheckResult, ctx: SyncContext) -> None:
    notice, failure = judge_api_version(ctx)
    result.api_version = notice
    if failure is not None and result.failure is None:
        result.failure = failure


def judge_api_version(ctx: SyncContext) -> tuple[VersionNotice, MetaFatalError | None]:
    """Warn when the Graph API version expires within 90 days; fail when it has expired or is
    not released yet. Either way the message names the version to move to. The failure is
    what Meta would answer a run with this version: a refused request (exit 5). `check` and
    `run` both judge with this."""
    today = versions.day_of(ctx.clock())
    notice = versions.notice(ctx.config.destination.version_on(today), today)
    return notice, MetaFatalError(notice.message) if notice.level == "error" else None


async def _test_connection(ctx: SyncContext) -> tuple[str, MetaError | None]:
    # one quick retry: a connection test should answer in seconds, not back off for minutes
    settings = dataclasses.replace(
        client_settings(ctx), retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_total=10)
    )
    # `capisync sandbox & capisync check`: a local sandbox may still be starting
    not_listening = await wait_until_listening(settings.base_url)
    if not_listening is not None:
        return f"FAILED: {not_listening}", MetaTransientError(not_listening)
    async with MetaClient(settings) as client:
        try:
            info = await client.check_dataset()
        except MetaError as exc:
            return f"FAILED: {exc}", exc
    label = f" ({info['name']})" if info.get("name") else ""
    return (
        f"ok: the token reaches dataset {settings.dataset_id}{label} at {settings.base_url}",
        None,
    )
