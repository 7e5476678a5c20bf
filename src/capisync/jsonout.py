"""What a machine reads: the JSON shapes of runs, run history, rejections and checks.

One source for `--json` on the CLI, `capisync serve`'s API and the dashboard; docs/json.md
documents every field. Field names are stable: add fields, never rename or drop one.

Like the terminal output (report.py), only identifiers, counts, reason codes, hashes and
Meta's messages appear: never a raw customer value, never a token. Times are given twice:
ISO-8601 in UTC (`...Z`) for people and logs, epoch seconds for arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from capisync.state.schema import COUNT_FIELDS, END_STATES

if TYPE_CHECKING:
    from capisync.checks import CheckResult
    from capisync.errors import CapisyncError
    from capisync.rowstatus import RowStatus
    from capisync.state import Rejected, RejectionSummary, RunRecord
    from capisync.sync import RunReport

# counts a run may carry beyond COUNT_FIELDS (rows not recorded / without an identifier)
EXTRA_COUNTS = ("unrecorded", "unidentified")


def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds -> "2026-11-30T17:56:51.250Z" (milliseconds, UTC); None stays None."""
    return None if ts is None else iso_time(ts)


def iso_time(ts: float, timespec: str = "milliseconds") -> str:
    """Epoch seconds as ISO 8601 in UTC with a `Z`, to `timespec` (datetime.isoformat's:
    "seconds" gives "2026-11-30T17:56:51Z")."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def settled_counts(counts: Mapping[str, int], *, running: bool) -> dict[str, int]:
    """Every count of COUNT_FIELDS and EXTRA_COUNTS (0 when absent), made to add up: the
    END_STATES sum to `read`. A running run's rows read and not yet settled (queued, or in a
    request to Meta) are counted under `pending` and also given as `in_flight`."""
    out = {k: int(counts.get(k, 0)) for k in (*COUNT_FIELDS, *EXTRA_COUNTS)}
    flying = max(0, out["read"] - sum(out[k] for k in END_STATES)) if running else 0
    out["pending"] += flying
    out["in_flight"] = flying
    return out


def coverage_dict(coverage: Mapping[str, int]) -> dict[str, Any]:
    """{"events": 120, "keys": {"em": {"events": 118, "share": 0.9833}, ...}}: how many built
    events carried each customer key (what drives Event Match Quality); shares in 0..1."""
    events = int(coverage.get("events", 0))
    keys = {
        k: {"events": int(n), "share": round(n / events, 4) if events else 0.0}
        for k, n in sorted(coverage.items(), key=lambda kv: (-kv[1], kv[0]))
        if k != "events"
    }
    return {"events": events, "keys": keys}


def failure_dict(exc: CapisyncError | None) -> dict[str, Any] | None:
    """Why a run or check failed: {"type", "message", "exit_code", "retryable"}."""
    if exc is None:
        return None
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "exit_code": exc.exit_code,
        "retryable": exc.retryable,
    }


def reason_dict(reason: Mapping[str, Any]) -> dict[str, Any]:
    """One rejection reason: {"code", "key", "message", "meta_code", "meta_subcode"}."""
    return {
        "code": reason["code"],
        "key": reason.get("key"),
        "message": reason.get("message"),
        "meta_code": reason.get("meta_code"),
        "meta_subcode": reason.get("meta_subcode"),
    }


def rejected_dict(rejected: Rejected) -> dict[str, Any]:
    """One rejected row: {"identifier" (None when it had none storable), "by_meta", "reasons"}."""
    return {
        "identifier": rejected.identifier or None,
        "by_meta": rejected.by_meta,
        "reasons": [reason_dict(r) for r in rejected.reasons],
    }


def run_report_dict(report: RunReport) -> dict[str, Any]:
    """A run as it ends (or, while it runs, as it stands): the shape of `capisync run --json`
    and of a run in flight in `capisync serve`. See docs/json.md for every field."""
    started = report.started_at
    running = report.status == "running"
    finished = None if running or started is None else started + report.seconds
    return {
        "sync": report.sync,
        "run_id": report.run_id,
        "status": report.status,
        "ok": report.ok,
        "dry_run": report.status == "dry-run",
        "test_run": report.test_event_code is not None,
        "test_event_code": report.test_event_code,
        "test_code_in_project": report.test_code_in_project,
        "started_at": iso_utc(started),
        "started_at_epoch": started,
        "finished_at": iso_utc(finished),
        "finished_at_epoch": finished,
        "seconds": round(report.seconds, 3),
        "counts": settled_counts(report.counts, running=running),
        "read_all": report.read_all,
        "limit": report.limit,
        "reasons": dict(report.reasons.most_common()),
        "rejected_by_reason": dict(report.rejected_by_reason.most_common()),
        "rejected_again": report.rejected_again,
        "warnings": dict(report.warnings.most_common()),
        "coverage": coverage_dict(report.coverage),
        "retries": report.retries,
        "throttle_waits": report.throttle_waits,
        "throttle_wait_seconds": round(report.throttle_wait_seconds, 3),
        # the report keeps the first MAX_REJECTIONS_KEPT rows of each reason code (sync.py)
        "rejections": [rejected_dict(r) for r in report.rejections],
        "rejections_truncated": len(report.rejections) < report.counts["rejected"],
        "duplicates": list(report.duplicates),
        "counted_in_warehouse": report.counted_in_warehouse,
        "not_read_too_old": report.not_read_too_old,
        "notices": list(report.notices),
        "stopped_by": report.stopped_by,
        "error": report.error,
        "failure": failure_dict(report.failure),
        "exit_code": run_exit_code(report),
    }


def run_exit_code(report: RunReport) -> int:
    """What `capisync run` exits with for this run alone (docs/exit-codes.md)."""
    from capisync.errors import INTERRUPTED

    if report.status == "interrupted":
        return report.exit_code or INTERRUPTED
    if report.failure is not None:
        return report.failure.exit_code
    return 0 if report.ok or report.status == "running" else 1


def run_record_dict(record: RunRecord) -> dict[str, Any]:
    """A run from the history (`capisync runs --json`, `GET /api/runs/{id}` once it ended).
    The fields a report has and the ledger keeps have the same names as run_report_dict's."""
    d = record.details
    running = record.status == "running"
    counts = {**record.counts}
    for key in EXTRA_COUNTS:
        counts[key] = int(d.get(key) or 0)
    ended = record.ended_at
    return {
        "sync": record.sync,
        "run_id": record.id,
        "status": record.status,
        "ok": record.status == "completed",
        "dry_run": record.dry_run,
        "test_run": record.test_event_code is not None,
        "test_event_code": record.test_event_code,
        "test_code_in_project": bool(d.get("test_code_in_project")),
        "started_at": iso_utc(record.started_at),
        "started_at_epoch": record.started_at,
        "finished_at": iso_utc(ended),
        "finished_at_epoch": ended,
        "seconds": round(ended - record.started_at, 3) if ended is not None else None,
        "counts": settled_counts(counts, running=running),
        "read_all": d.get("read_all"),
        "limit": d.get("limit"),
        "reasons": _by_count(d.get("reasons")),
        "warnings": _by_count(d.get("warnings")),
        "coverage": coverage_dict(d.get("coverage") or {}),
        "retries": int(d.get("retries") or 0),
        "throttle_waits": int(d.get("throttle_waits") or 0),
        "throttle_wait_seconds": float(d.get("throttle_wait_seconds") or 0.0),
        "rejected_again": int(d.get("rejected_again") or 0),
        "counted_in_warehouse": int(d.get("counted_in_warehouse") or 0),
        "not_read_too_old": int(d.get("not_read_too_old") or 0),
        "notices": list(d.get("notices") or ()),
        "stopped_by": d.get("stopped_by"),
        "error": record.error,
        "reset": d.get("reset"),  # a reset's entry (status "reset"): what it forgot
    }


def _by_count(counter: Mapping[str, int] | None) -> dict[str, int]:
    return dict(sorted((counter or {}).items(), key=lambda kv: (-kv[1], kv[0])))


def rejections_dict(
    sync: str, summary: RejectionSummary, *, unidentified: tuple[int, int] | None = None
) -> dict[str, Any]:
    """`capisync rejections --json`: every rejected row of the ledger counted, by reason,
    with a few identifiers each. `unidentified`: (run id, rows) the sync's last real run
    rejected without a storable identifier (counted in that run, never stored)."""
    return {
        "sync": sync,
        "total": summary.total,
        "reasons": [
            {
                **reason_dict(group.reason),
                "code": group.code,
                "rows": group.rows,
                "examples": list(group.examples),
                "examples_truncated": group.rows > len(group.examples),
            }
            for group in summary.groups
        ],
        "unidentified": (
            {"run_id": unidentified[0], "rows": unidentified[1]}
            if unidentified is not None and unidentified[1]
            else None
        ),
    }


def check_dict(result: CheckResult, *, payloads: int) -> dict[str, Any]:
    """`capisync check --json` for one sync: the mapping, the sample's outcome, up to
    `payloads` built events (unhashed identifiers masked, as the terminal shows them), the
    connection test and the API version."""
    from capisync.report import shown_event

    c = result.counts
    version = result.api_version
    return {
        "sync": result.sync,
        "ok": result.ok,
        "columns": list(result.columns),
        "mapping": [{"parameter": key, "source": source} for key, source in result.mapping],
        "sample": {k: int(c.get(k, 0)) for k in ("read", "sent", "rejected", "expired")},
        "reasons": [
            {"code": code, "rows": n, "message": result.reason_messages.get(code)}
            for code, n in result.reasons.most_common()
        ],
        "warnings": dict(result.warnings.most_common()),
        "payloads": [shown_event(e) for e in result.payloads[:payloads]],
        "connection": result.connection,
        "api_version": None
        if version is None
        else {"level": version.level, "message": version.message},
        "failure": failure_dict(result.failure),
        "exit_code": result.failure.exit_code if result.failure is not None else 0,
    }


def failed_sync_dict(name: str, message: str, exit_code: int) -> dict[str, Any]:
    """A sync whose run or check raised before it had a result: its error and exit code."""
    return {"sync": name, "status": "failed", "ok": False, "error": message, "exit_code": exit_code}


def row_status_dict(status: RowStatus) -> dict[str, Any]:
    """`capisync status SYNC IDENTIFIER --json`: what became of one row."""
    row = status.row
    pending = status.pending_after
    return {
        "sync": status.sync,
        "identifier": status.identifier,
        "state": status.state,
        "run_id": None if row is None else row.run_id,
        "recorded_at": iso_utc(status.recorded_at),
        "recorded_at_epoch": status.recorded_at,
        "event_id": None if row is None else row.event_id,
        "fbtrace_id": None if row is None else row.fbtrace_id,
        "by_meta": None if row is None else row.by_meta,
        "reasons": [] if row is None else [reason_dict(r) for r in row.reasons],
        "run": None if status.run is None else run_record_dict(status.run),
        "running_now": status.running_now,
        "pending_after_run_id": None if pending is None else pending.id,
        "explanation": status.explanation,
    }
