"""Every exception capisync raises on purpose, and the exit code each one means.

CapisyncError                      base; str(e) is safe to show (no raw customer data, no token)
├── ConfigError                    the project file is wrong; .problems lists every one
├── MappingError                   a mapping names an unknown parameter or a missing column
├── SourceError                    the model fails in the warehouse (SQL error, failing cast)
│   ├── ColumnError                the model lacks a column the mapping needs
│   └── SourceUnavailableError     the warehouse cannot be reached now (down, refused, timeout)
├── LedgerError                    the ledger cannot be written as it is (disk full, read-only)
│   ├── LedgerUnavailableError     the ledger's server is down, or its file busy past the timeout
│   └── SyncLockedError            another run of the same sync holds the lock
└── MetaError                      Meta (or the sandbox) answered with an error
    ├── MetaTransientError         retry with backoff (network, timeout, 5xx, codes 1, 2)
    ├── MetaThrottledError         wait, then retry (codes 4, 17, 32, 341, 613, 80004, HTTP 429)
    ├── MetaFatalError             stop the run, rows stay pending (190, 10, 200-299, 368, 100/33)
    │   └── MetaUnknownAnswerError   an answer not known as bad event data: no row rejected on it
    └── MetaInvalidDataError       the batch was rejected for its data: bisect

Each class carries `exit_code` and `retryable`: whether running again later, unchanged, can
succeed (a scheduler may retry) or a person must fix something first. EXIT_CODES is the table
that docs/exit-codes.md documents; `worst_exit_code` picks the one a multi-sync command exits
with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExitCode:
    code: int
    retryable: bool  # True: try again later, unchanged; False: a person must act first
    meaning: str


# worst first: the order `worst_exit_code` applies when several syncs end differently
EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(143, False, "stopped by SIGTERM: in-flight batches were recorded, the rest pend"),
    ExitCode(130, False, "stopped with Ctrl-C: in-flight batches were recorded, the rest pend"),
    ExitCode(1, False, "an unexpected error, a bug in capisync: please report it"),
    ExitCode(3, False, "the ledger cannot be written as it is (disk full, read-only, deleted)"),
    ExitCode(2, False, "a configuration or mapping error in the project file"),
    ExitCode(5, False, "Meta refused the token, its permission, the dataset or the request"),
    ExitCode(6, False, "the model fails in the warehouse (SQL error, failing cast, column)"),
    ExitCode(75, True, "try again later: Meta, the warehouse or the ledger is unavailable now"),
    ExitCode(4, True, "the sync is already running elsewhere (its lock is held)"),
    ExitCode(0, True, "done: every sync completed (rejected rows are reported, not a failure)"),
)
_RANK = {row.code: rank for rank, row in enumerate(EXIT_CODES)}
TRY_AGAIN_LATER = 75  # EX_TEMPFAIL in sysexits.h: "temporary failure, try again later"
INTERRUPTED, TERMINATED = 130, 143


def worst_exit_code(codes: Iterable[int]) -> int:
    """The code a command exits with when several syncs ended with `codes`: the first of
    EXIT_CODES's order (a person must act > try again later > already running > done); 0
    for none. A code outside the table (a bug) ranks with 1."""
    return min(codes, key=lambda c: _RANK.get(c, _RANK[1]), default=0)


def is_retryable(code: int) -> bool:
    """Whether a scheduler may simply run again later after exit `code`."""
    return any(row.code == code and row.retryable for row in EXIT_CODES)


class CapisyncError(Exception):
    """Base class. Messages are written for the user and never hold raw values or secrets."""

    exit_code = 1
    retryable = False


class ConfigError(CapisyncError):
    exit_code = 2

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(
            where + "invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )


class SourceError(CapisyncError):
    """The model fails: `model_line` is the line of the user's SQL it points at, if known."""

    exit_code = 6

    def __init__(self, message: str, *, model_line: int | None = None) -> None:
        super().__init__(message)
        self.model_line = model_line


class ColumnError(SourceError):
    pass


class SourceUnavailableError(SourceError):
    exit_code = TRY_AGAIN_LATER
    retryable = True


class MappingError(CapisyncError):
    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid mapping:\n" + "\n".join(f"  - {p}" for p in problems))


class LedgerError(CapisyncError):
    exit_code = 3


class LedgerUnavailableError(LedgerError):
    exit_code = TRY_AGAIN_LATER
    retryable = True


class SyncLockedError(LedgerError):
    exit_code = 4
    retryable = True
    holder: str | None = None  # who holds the lock, as the ledger says ("host:pid:nonce since ...")


class MetaError(CapisyncError):
    """An error answer from the Graph API, with Meta's fields kept for the ledger."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
        user_message: str | None = None,
        is_transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id
        self.user_message = user_message
        self.is_transient = is_transient

    def meta_fields(self) -> dict[str, object]:
        """Meta's answer as keyword arguments, to re-raise it as another kind of MetaError."""
        return {
            "status": self.status,
            "code": self.code,
            "subcode": self.subcode,
            "fbtrace_id": self.fbtrace_id,
            "user_message": self.user_message,
            "is_transient": self.is_transient,
        }


class MetaTransientError(MetaError):
    exit_code = TRY_AGAIN_LATER
    retryable = True


class MetaThrottledError(MetaError):
    exit_code = TRY_AGAIN_LATER
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class MetaFatalError(MetaError):
    pass


class MetaUnknownAnswerError(MetaFatalError):
    """A 4xx answer capisync does not know as bad event data (anything but code 100 with a
    2804xxx subcode, and not a known token, permission or throttling code): no row may be
    rejected on it, so the run stops and the rows stay pending."""


class MetaInvalidDataError(MetaError):
    pass
