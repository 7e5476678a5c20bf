"""A run as the API shows it, in jsonout's shapes: live while it runs in this process
(jsonout.run_report_dict, counts so far), from the ledger otherwise (run_record_dict)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from capisync.jsonout import run_record_dict, run_report_dict
from capisync.state import Ledger, RunRecord
from capisync.state.ledger import _run_record, ledger_failure
from capisync.state.schema import RUNS
from capisync.sync import RunReport

__all__ = ["live_run_dict", "record_dict", "run_by_id"]


def run_by_id(ledger: Ledger, run_id: int) -> RunRecord | None:
    """The ledger's record of run `run_id`, or None. Raises LedgerError."""
    try:
        with ledger.engine.connect() as conn:
            row = conn.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).first()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", exc)
        where = f"{ledger.shown}: {type(orig).__name__}"
        raise ledger_failure(exc, f"cannot read the run history at {where}") from exc
    return None if row is None else _run_record(row._mapping)


def record_dict(record: RunRecord) -> dict[str, Any]:
    return run_record_dict(record)


def live_run_dict(report: RunReport, now: float | None = None) -> dict[str, Any]:
    """A run in flight as the API shows it. `now` (epoch seconds, the service's clock) gives
    a running run its `seconds` so far: the report's own are set only when it ends."""
    shown = run_report_dict(report)
    if now is not None and report.status == "running" and report.started_at is not None:
        shown["seconds"] = round(max(0.0, now - report.started_at), 3)
    return shown
