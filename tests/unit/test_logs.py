"""Log lines: one JSON object a line with the record's machine fields, an exception by its
type only (its text may quote a row's value), and stderr messages turned into records."""

from __future__ import annotations

import json
import logging

import pytest

from capisync.logs import JsonLineFormatter, LinesToLog, TextFormatter


def _record(exc: BaseException | None = None, **fields: object) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord("capisync.test", logging.WARNING, __file__, 1, "a: %s", ("b",), info)
    if fields:
        record.capisync = fields
    return record


def test_a_json_line_has_the_fields_and_an_exception_by_its_type_only() -> None:
    try:
        raise ValueError("cannot read jane.doe@example.com")
    except ValueError as exc:
        record = _record(exc, event="progress", counts={"sent": 3}, message="not overwritten")
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    doc = json.loads(line)
    assert (doc["level"], doc["logger"], doc["message"]) == ("warning", "capisync.test", "a: b")
    assert doc["event"] == "progress" and doc["counts"] == {"sent": 3}
    assert doc["exception"] == "ValueError" and doc["time"].endswith("Z")
    text = TextFormatter().format(record)
    assert text.endswith("WARNING capisync.test: a: b (ValueError)")
    assert "jane" not in line + text


def test_stderr_messages_become_records_at_their_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="capisync")
    stream = LinesToLog()
    stream.write("error: sync 'a': it failed\n  - and this line belongs to it\n")
    stream.write("warning: half ")
    stream.write("a line\n")
    stream.write("a note\n\n")
    got = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "capisync.cli"]
    assert got == [
        (logging.ERROR, "sync 'a': it failed\n  - and this line belongs to it"),
        (logging.WARNING, "half a line"),
        (logging.INFO, "a note"),
    ]
    assert not stream.isatty()  # rich then draws no live bar into it
