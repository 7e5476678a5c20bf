"""Log lines on stderr: text for people, JSON lines for log collectors (`--log-format json`).

Every capisync logger is a child of `capisync`; `configure` gives that logger one handler on
stderr. A JSON line is one object:

    {"time": "2026-11-30T18:01:11.250Z", "level": "info", "logger": "capisync.progress",
     "message": "purchases: read 2,000 sent 1,990 ...", "event": "progress", "sync": ...}

with the record's machine fields (passed as `extra={"capisync": {...}}`) merged in: see
docs/json.md. Like every output of capisync, a log line never holds a raw customer value or a
token: messages are written to be safe (errors.py), and an exception is logged by its type
only, never its text or traceback (which may quote a row's value).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
ROOT = "capisync"
_MARK = "_capisync_handler"  # set on the handler configure() installs, to replace it


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The machine fields a record carries (`extra={"capisync": {...}}`), else {}."""
    fields = getattr(record, "capisync", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line (non-ASCII kept as is)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        for key, value in fields_of(record).items():
            line.setdefault(key, value)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-11-30T18:01:11.250Z WARNING capisync.meta: message`; an exception by its type."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_iso(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[0] is not None:
            text += f" ({record.exc_info[0].__name__})"
        return text


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler on whatever sys.stderr is when a record is emitted (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(fmt: LogFormat) -> None:
    """Send capisync's log records (INFO and up) to stderr in `fmt`, replacing the handler an
    earlier call installed. Records still propagate (an application's own handlers see them)."""
    logger = logging.getLogger(ROOT)
    for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    _state["format"] = fmt


_state: dict[str, LogFormat] = {"format": "text"}
_LEVELS = (("error: ", logging.ERROR), ("warning: ", logging.WARNING))


class LinesToLog(io.TextIOBase):
    """A text stream whose every message becomes a log record of `logger`: what a command
    prints on stderr (errors, warnings, notes) comes out as JSON lines with `--log-format
    json`. A message is what was written up to a newline that ends a write (one `print`,
    its continuation lines included); one starting "error: " or "warning: " is logged at
    that level, without the prefix."""

    def __init__(self, logger: str = "capisync.cli") -> None:
        self.log = logging.getLogger(logger)
        self.partial = ""

    def write(self, text: str) -> int:
        self.partial += text
        if self.partial.endswith("\n"):
            self.flush()
        return len(text)

    def flush(self) -> None:
        message, self.partial = self.partial.rstrip("\n"), ""
        if message.strip():
            self._emit(message)

    def isatty(self) -> bool:
        return False

    def _emit(self, message: str) -> None:
        for prefix, level in _LEVELS:
            if message.startswith(prefix):
                self.log.log(level, message[len(prefix) :])
                return
        self.log.info(message)


def current_format() -> LogFormat:
    return _state["format"]


def event_lines_wanted(stderr_is_terminal: bool) -> bool:
    """Whether progress and run-finished lines are logged: when stderr is a log (not a
    terminal, where a live bar and the summary say it), or when JSON lines were asked for."""
    return not stderr_is_terminal or current_format() == "json"
