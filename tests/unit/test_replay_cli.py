"""The replay command: refuses to select everything by accident, one-line errors, its report."""

from __future__ import annotations

from datetime import UTC, datetime

from replay import cli
from replay.plan import (
    REDACTED,
    DeadLetter,
    plan,
)
from replay.selection import Selection
from tests.support import dead_letter_row

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _letter(payload: bytes = b'{"login": {}}', **kwargs) -> DeadLetter:
    return DeadLetter.from_row(dead_letter_row(payload, **kwargs))


def _cli(capsys, *args: str) -> tuple[int, str]:
    where = ["--topic=projects/my-project/topics/customers", "--dlq-table=my-project:ds.c_dlq"]
    code = cli.main([*where, *args])
    return code, capsys.readouterr().err.strip()


def test_the_command_refuses_to_select_everything_by_accident(capsys):
    code, err = _cli(capsys)
    assert code == 2
    assert err == (
        "python -m replay: error: choose dead letters with --stage, --since, --until, --error "
        "or --message-id (or --all for every one)"
    )


def test_a_bad_time_is_one_line(capsys):
    code, err = _cli(capsys, "--since", "yesterday")
    assert (code, err.count("\n")) == (2, 0)
    assert "'yesterday' is not a time" in err


def test_the_report_counts_messages_and_reasons():
    letters = [_letter(message_id="a"), _letter(message_id="b", payload_state="redacted")]
    text = cli.render(
        plan(letters), "p.d.customers_dlq", Selection(stages=("validate",)), listing=True
    )
    assert text.splitlines() == [
        "selected 2 dead letters of 2 messages in p.d.customers_dlq (stage validate)",
        "  to replay:      1 (1 original)",
        "  not replayed:   1",
        f"        1  {REDACTED}",
        "  replay:",
        "    a",
        f"  {REDACTED}:",
        "    b",
    ]
