"""A run as the API shows it, in jsonout's shapes: live while it runs in this process
(jsonout.run_report_dict, counts so far), from the ledger otherwise (jsonout.run_record_dict)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from capisync.jsonout import run_report_dict
from capisync.state import Ledger, RunRecord
from capisync.state.ledger import ledger_failure
from capisync.sync import RunReport

__all__ = ["live_run_dict", "run_by_id"]


def run_by_id(ledger: Ledger, run_id: int) -> RunRecord | None:
    """The ledger's record of run `run_id`, or None. Raises LedgerError."""
    try:
        return ledger.run(run_id)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", exc)
        where = f"{ledger.shown}: {type(orig).__name__}"
        raise ledger_failure(exc, f"cannot read the run history at {where}") from exc


def live_run_dict(report: RunReport, now: float | None = None) -> dict[str, Any]:
    """A run in flight as the API shows it. `now` (epoch seconds, the service's clock) gives
    a running run its `seconds` so far: the report's own are set only when it ends."""
    shown = run_report_dict(report)
    if now is not None and report.status == "running" and report.started_at is not None:
        shown["seconds"] = round(max(0.0, now - report.started_at), 3)
    return shown
