"""State: the ledger of what each sync sent, its run history, and the one-run-at-a-time lock."""

from __future__ import annotations

from capisync.state.ledger import (
    BASELINE,
    EXPIRED,
    REJECTED,
    SENT,
    SETTLED,
    Entry,
    Ledger,
    LedgerRow,
    ReasonGroup,
    Rejected,
    RejectionSummary,
    RowChoice,
    RunRecord,
)

__all__ = [
    "BASELINE",
    "EXPIRED",
    "REJECTED",
    "SENT",
    "SETTLED",
    "Entry",
    "Ledger",
    "LedgerRow",
    "ReasonGroup",
    "Rejected",
    "RejectionSummary",
    "RowChoice",
    "RunRecord",
]
