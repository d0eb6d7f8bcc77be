"""The producer's log lines: JSON with Cloud Logging's `severity`, or text; `extra` as keys."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from producer import logs


def _record(message: str = "published", **extra) -> logging.LogRecord:
    record = logging.LogRecord("producer", logging.WARNING, __file__, 1, message, (), None)
    record.created = 1_714_564_800.5  # 2024-05-01T12:00:00.500Z
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_severity_time_and_every_extra_field():
    line = logs.JsonFormatter().format(_record(count=3, topic="projects/p/topics/t", city="Zürich"))
    assert json.loads(line) == {
        "time": "2024-05-01T12:00:00.500Z",
        "severity": "WARNING",
        "logger": "producer",
        "message": "published",
        "count": 3,
        "topic": "projects/p/topics/t",
        "city": "Zürich",
    }
    assert "Zürich" in line  # UTF-8 as is, not \u escapes


def test_text_lines_put_the_extra_fields_after_the_message():
    line = logs.TextFormatter().format(_record(count=3))
    assert line == "2024-05-01T12:00:00.500Z WARNING published count=3"


@pytest.mark.parametrize("formatter", [logs.JsonFormatter(), logs.TextFormatter()])
def test_an_exception_is_kept_with_its_traceback(formatter):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record(message="failed")
        record.exc_info = sys.exc_info()
    assert "RuntimeError: boom" in formatter.format(record)


def test_configure_sends_the_chosen_format_to_stderr():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("text", "DEBUG")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, logs.TextFormatter)
        assert handler.stream is sys.stderr
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
