"""Every exception capisync raises on purpose.

CapisyncError                 base; str(e) is safe to show (no raw customer data, no token)
├── ConfigError               the project file is wrong; .problems lists every one (exit 2)
├── SourceError               the warehouse cannot be reached or the model fails (exit 3)
│   └── ColumnError           the model lacks a column the mapping needs
├── MappingError              a mapping names an unknown parameter or a missing column
├── LedgerError               the state store cannot be opened or written (exit 3)
│   └── SyncLockedError       another run of the same sync holds the lock
└── MetaError                 Meta (or the sandbox) answered with an error
    ├── MetaTransientError    retry with backoff (network, timeout, 5xx, codes 1, 2)
    ├── MetaThrottledError    wait, then retry (codes 4, 17, 32, 341, 613, 80004, HTTP 429)
    ├── MetaFatalError        stop the run, rows stay pending (190, 10, 200-299, 368, 100/33)
    └── MetaInvalidDataError  the batch was rejected for its data: bisect
"""

from __future__ import annotations


class CapisyncError(Exception):
    """Base class. Messages are written for the user and never hold raw values or secrets."""

    exit_code = 1


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
    exit_code = 3


class ColumnError(SourceError):
    pass


class MappingError(CapisyncError):
    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid mapping:\n" + "\n".join(f"  - {p}" for p in problems))


class LedgerError(CapisyncError):
    exit_code = 3


class SyncLockedError(LedgerError):
    exit_code = 4


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
    pass


class MetaThrottledError(MetaError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class MetaFatalError(MetaError):
    pass


class MetaInvalidDataError(MetaError):
    pass
